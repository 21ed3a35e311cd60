"""Classification metrics (scikit-learn), as one JSON-ready dict."""
from __future__ import annotations

import numpy as np


def classification_metrics(*, labels: np.ndarray, predictions: np.ndarray, label_names: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=ids, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=ids, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(labels, predictions, labels=ids).tolist(),
        "num_examples": int(len(labels)),
    }


def format_metrics_table(metrics: dict, label_names: list[str]) -> str:
    """A plain-text report: headline numbers, per-class table, confusion matrix."""
    lines = [f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   "
             f"examples {metrics['num_examples']}", ""]
    width = max(8, *(len(n) for n in label_names))
    lines.append(f"{'class':<{width}}  precision  recall  f1      support")
    for name in label_names:
        row = metrics["per_class"][name]
        lines.append(f"{name:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7d}")
    lines += ["", "confusion matrix (rows = true, columns = predicted)"]
    lines.append(" " * (width + 2) + "  ".join(f"{n[:8]:>8}" for n in label_names))
    for name, row in zip(label_names, metrics["confusion_matrix"]):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{v:8d}" for v in row))
    return "\n".join(lines)


def softmax(logits) -> np.ndarray:
    """Probabilities over the last axis of a logits array (numpy or a CPU tensor), in float64."""
    values = np.asarray(logits, dtype=np.float64)
    values = np.exp(values - values.max(-1, keepdims=True))
    return values / values.sum(-1, keepdims=True)
