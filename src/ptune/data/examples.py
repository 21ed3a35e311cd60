"""The unit of data: one labelled text or text pair, and the label vocabulary."""
from __future__ import annotations

from dataclasses import dataclass


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
        key = (lambda s: (0, int(s), s)) if all(lab.lstrip("-").isdigit() for lab in found) else (lambda s: (1, 0, s))
        return cls(tuple(sorted(found, key=key)))

    def id(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)
