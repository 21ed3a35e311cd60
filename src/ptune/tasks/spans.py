"""Entity spans from a tag per word: conlleval's chunk rules (BIO, IOB1 and IOBES tags, `TYPE` after
the first `-`), the ones seqeval scores with, so the entities a prediction names are the ones its
F1 counts. Plain Python: a server decodes tags without importing seqeval (and scikit-learn)."""
from __future__ import annotations

ENDS_BEFORE = {("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")}
"""(previous tag, tag) pairs where the previous word closed a chunk (E and S always close one)."""
STARTS_AT = {("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I")}
"""(previous tag, tag) pairs where this word opens a chunk (B and S always open one)."""


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '_'): the first letter, and what follows the first '-'."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """[(type, first word, last word)] of every chunk, in order (last word inclusive)."""
    spans = []
    previous, previous_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        kind, type_ = split_tag(tag)
        typed = previous not in ("O", ".") and previous_type != type_
        if previous in ("E", "S") or (previous, kind) in ENDS_BEFORE or typed:
            spans.append((previous_type, begin, i - 1))
        if kind in ("B", "S") or (previous, kind) in STARTS_AT or (kind not in ("O", ".") and previous_type != type_):
            begin = i
        previous, previous_type = kind, type_
    return spans
