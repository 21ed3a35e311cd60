"""Exact match and F1 as SQuAD's official evaluation script (v2.0) computes them.

Answers are normalised (lower case, punctuation and the articles a/an/the removed, whitespace
collapsed) before comparing; a question's score is its best over the gold answers; a question
with no gold answer (SQuAD 2.0) scores 1 only for an empty prediction.
"""
from __future__ import annotations

import collections
import re
import string

ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in PUNCTUATION)
    text = ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_score(gold: str, predicted: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(predicted))


def f1_score(gold: str, predicted: str) -> float:
    gold_tokens, predicted_tokens = normalize_answer(gold).split(), normalize_answer(predicted).split()
    if not gold_tokens or not predicted_tokens:  # no-answer: 1 if both are empty, else 0
        return float(gold_tokens == predicted_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(texts: list[str]) -> list[str]:
    """The official script's gold list: answers that normalise to nothing are dropped; none left
    means the question is unanswerable, and only "" matches."""
    kept = [t for t in texts if normalize_answer(t)]
    return kept or [""]


def squad_scores(questions: list[tuple[list[str], str]]) -> dict:
    """[(gold answer texts, predicted text)] -> percentages as the official script reports them:
    exact, f1 and total, and HasAns_/NoAns_ splits (a question with any gold answer is HasAns)."""
    exact, f1, has_answer = [], [], []
    for given, predicted in questions:
        golds = gold_answers(given)
        exact.append(max(exact_score(g, predicted) for g in golds))
        f1.append(max(f1_score(g, predicted) for g in golds))
        # The official script splits by whether the question lists any answer at all, before
        # normalising: an answer such as "the" that normalises to nothing still makes it HasAns.
        has_answer.append(bool(given))
    out = {"exact": 100.0 * sum(exact) / max(1, len(exact)), "f1": 100.0 * sum(f1) / max(1, len(f1)), "total": len(exact)}
    for name, keep in (("HasAns", True), ("NoAns", False)):
        rows = [i for i, h in enumerate(has_answer) if h == keep]
        if rows:
            out[f"{name}_exact"] = 100.0 * sum(exact[i] for i in rows) / len(rows)
            out[f"{name}_f1"] = 100.0 * sum(f1[i] for i in rows) / len(rows)
            out[f"{name}_total"] = len(rows)
    return out
