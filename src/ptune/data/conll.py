"""CoNLL-format token-tagged sentences (CoNLL-2003 and the copies of it in circulation).

One token per line, its tag in the last column, a blank line between sentences. Handles the
original four columns (`EU NNP B-NP B-ORG`), two-column copies (`EU B-ORG`), `-DOCSTART-` lines
in either form, CRLF endings, a BOM, and trailing blank lines; a line that is really wrong is
reported as `file:line: what is wrong`.
"""
from __future__ import annotations

from ptune.extras import require

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ptune.errors import DataError

SPLIT_FILES = {"train": ("train.txt", "train.conll", "eng.train"),
               "dev": ("dev.txt", "valid.txt", "validation.txt", "dev.conll", "eng.testa"),
               "test": ("test.txt", "test.conll", "eng.testb")}
@functools.cache
def word_pattern() -> re.Pattern:
    """How raw text is split into words for prediction: words (with inner hyphens, apostrophes and
    dots, as in `1996-08-22` or `U.S`) and single punctuation marks, each with the combining marks
    that follow it (`\\w` leaves out accents written as separate characters, as in "Pari\\u0301s",
    and the vowel signs of many scripts). Built on first use: finding the marks takes a quarter second."""
    marks = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in mark_ranges())
    word = rf"\w[\w{marks}]*"
    return re.compile(rf"{word}(?:[-'.]{word})*|[^\w\s{marks}][{marks}]*|[{marks}]+", re.UNICODE)


def mark_ranges() -> list[tuple[int, int]]:
    """The code point ranges of Unicode's combining marks (categories Mn, Mc, Me)."""
    ranges, start = [], None
    for point in range(sys.maxunicode + 2):
        mark = point <= sys.maxunicode and unicodedata.category(chr(point))[0] == "M"
        if mark and start is None:
            start = point
        elif not mark and start is not None:
            ranges.append((start, point - 1))
            start = None
    return ranges


@dataclass(frozen=True)
class TaggedSentence:
    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    origin: str = ""
    spans: tuple[tuple[int, int], ...] | None = None
    """Character (start, end) of each word in `text`; set when the sentence came from raw text."""
    text: str | None = None

    @classmethod
    def from_text(cls, text: str, origin: str = "") -> "TaggedSentence":
        matches = list(word_pattern().finditer(text))
        return cls(words=tuple(m.group() for m in matches), origin=origin, text=text,
                   spans=tuple((m.start(), m.end()) for m in matches))

    @property
    def label(self):  # so label checks written for sentences of either task read the same
        return self.tags


def read_conll(path: str | Path, *, skip_bad_rows: bool = False, report=None) -> list[TaggedSentence]:
    path = Path(path)
    from ptune.data.sources import read_text

    lines = read_text(path).splitlines()
    sentences, words, tags, start = [], [], [], 1
    for number, line in enumerate(lines + [""], 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(TaggedSentence(tuple(words), tuple(tags), f"{path}:{start}"))
            words, tags, start = [], [], number + 1
            continue
        problem = line_problem(fields, line)
        if problem:
            if not skip_bad_rows:
                raise DataError(f"{path}:{number}: {problem}")
            if report is not None:
                report.skipped.append(f"{path}:{number}: {problem}")
            continue
        words.append(fields[0])
        tags.append(fields[-1])
    if not sentences:
        raise DataError(f"{path}: no tagged sentences (expected `token TAG` lines, blank lines between sentences)")
    return sentences


def line_problem(fields: list[str], line: str) -> str | None:
    """What is wrong with one token line, or None."""
    if len(fields) < 2:
        return f"expected `token TAG` (tag in the last column), found {line.strip()!r}"
    tag = fields[-1]
    if tag != "O" and not re.fullmatch(r"[BIES]-\S+", tag):
        return f"tag {tag!r} is not O or B-/I-/E-/S-TYPE"
    return None


def find_conll_file(folder: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {split} file; expected one of {list(SPLIT_FILES[split])}, "
                    f"found {sorted(p.name for p in folder.iterdir())}")


def load_tagged(source: str | Path, *, split: str = "train", skip_bad_rows: bool = False, report=None,
                **_columns) -> list[TaggedSentence]:
    """Sentences of one split from a CoNLL file, a folder of them, or a Hub name like `conll2003`."""
    path = Path(source)
    if path.is_dir():
        path = find_conll_file(path, split)
    if path.is_file():
        return read_conll(path, skip_bad_rows=skip_bad_rows, report=report)
    if not str(source).startswith((".", "/", "~")) and str(source).count("/") <= 1 and not path.suffix:
        require("hub", f"{source}: no such file or folder here; as the name of a Hub data set, reading it",
                alternative="or pass a local CoNLL file or folder")
        try:
            return load_hub_tagged(str(source), split=split)
        except DataError as err:  # say first that the path is not here, then what the Hub said
            raise DataError(f"{source}: no such file or folder; read as a Hub data set name: {err}") from None
    raise DataError(f"{source}: no such file or folder (a Hub data set is written like `conll2003`)")


def load_hub_tagged(name: str, *, split: str) -> list[TaggedSentence]:
    """`conll2003` (or `owner/name`) from the Hub: `tokens` and integer `ner_tags` with names."""
    require("hub", f"{name!r} looks like a Hub data set; reading it", alternative="or pass a local CoNLL file or folder")
    import datasets
    hub_split = {"dev": "validation"}.get(split, split)
    try:
        table = datasets.load_dataset(name, split=hub_split)
    except Exception as err:  # datasets raises many types (connection, not found, bad split)
        raise DataError(f"could not load {name!r} split {hub_split!r} from the Hub: {err}") from err
    tag_column = next((c for c in ("ner_tags", "tags", "labels") if c in table.column_names), None)
    if "tokens" not in table.column_names or tag_column is None:
        raise DataError(f"hub:{name}: expected columns `tokens` and `ner_tags`, found {table.column_names}")
    names = table.features[tag_column].feature
    to_name = names.int2str if hasattr(names, "int2str") else str
    return [TaggedSentence(tuple(row["tokens"]), tuple(to_name(t) for t in row[tag_column]), f"hub:{name}:{hub_split}:{i}")
            for i, row in enumerate(table) if row["tokens"]]
