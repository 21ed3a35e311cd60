"""Do two predictions give the same answer? The same labels, tags and entity spans, and scores
that differ only by float noise. Rows batched with different neighbours take different kernel
paths, so their probabilities may differ in the last digits (logits agree within 1e-5)."""
from __future__ import annotations


def answers_agree(a, b, *, atol: float = 1e-4) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(answers_agree(a[k], b[k], atol=atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(answers_agree(x, y, atol=atol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= atol
    return a == b
