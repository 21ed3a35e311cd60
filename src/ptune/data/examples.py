"""The unit of data: one labelled text or text pair, and the label vocabulary."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
INTEGER = re.compile(r"-?[0-9]+")


def unicode_problem(text: str) -> str | None:
    """Why `text` cannot be tokenized, or None. JSON's `\\ud800` escapes decode to lone surrogates,
    which are not Unicode characters and which no tokenizer can encode."""
    found = LONE_SURROGATE.search(text)
    if found:
        return (f"holds a lone surrogate (\\u{ord(found.group()):04x}) at character {found.start()}, which is "
                "not valid Unicode; fix the \\u escape in the file")
    return None


@dataclass(frozen=True)
class Example:
    text: str
    text_pair: str | None = None
    label: str | None = None
    """Labels are kept as strings (as read); `LabelSet` maps them to class ids."""
    origin: str = ""
    """`file:line` (or `hub:split:index`) for error messages."""


@dataclass(frozen=True)
class LabelSet:
    names: tuple[str, ...]

    @classmethod
    def from_examples(cls, examples: list[Example]) -> "LabelSet":
        found = {e.label for e in examples if e.label is not None}
        # Numeric labels sort numerically ("2" before "10"), others alphabetically.
        key = (lambda s: (0, int(s), s)) if all(INTEGER.fullmatch(lab) for lab in found) else (lambda s: (1, 0, s))
        return cls(tuple(sorted(found, key=key)))

    def id(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)


def data_fingerprint(examples) -> dict:
    """How many examples and a SHA-256 of their content (not of where they were read from), so a
    resumed run can tell that its data changed: rows dropped, labels flipped, text edited."""
    digest = hashlib.sha256()
    for example in examples:
        fields = {k: v for k, v in asdict(example).items() if k != "origin"}
        digest.update(json.dumps(fields, sort_keys=True, ensure_ascii=True).encode())
        digest.update(b"\n")
    return {"examples": len(examples), "sha256": digest.hexdigest()}
