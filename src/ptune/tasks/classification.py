"""Sentence and sentence-pair classification: one label per input, from a pooled state."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ptune.data.examples import Example, LabelSet
from ptune.data.sources import load_examples
from ptune.data.transforms import collate, tokenize
from ptune.errors import DataError
from ptune.tasks.heads import LinearHead, pool
from ptune.tasks.base import Task, TaskConfig, register_task
from ptune.tasks.metrics import classification_metrics, format_metrics_table

POOLINGS = ("cls", "mean", "text_mean")


@dataclass
class ClassificationConfig(TaskConfig):
    pooling: str = "mean"
    """What the head reads: `cls` (the real [CLS] state), `mean` (masked mean over all states,
    input-level virtual tokens included) or `text_mean` (mean over the text's states only)."""

    def problems(self) -> list[str]:
        found = super().problems()
        if self.pooling not in POOLINGS:
            found.append(f"pooling={self.pooling!r}: expected one of {POOLINGS}")
        return found


@register_task
class ClassificationTask(Task):
    name = "classification"
    config_cls = ClassificationConfig
    primary_metric = "accuracy"
    metric_choices = ("accuracy", "macro_f1")

    def read(self, source, *, split: str, **options) -> list[Example]:
        return load_examples(source, split=split, **options)

    def input_form_of(self, examples: list) -> str:
        return "pair" if any(e.text_pair for e in examples) else "text"

    def served_input_form(self, recorded: str | None) -> str:
        return recorded or "text"

    def example(self, item, index: int = 0) -> Example:
        if isinstance(item, Example):
            example = item
        elif isinstance(item, str):
            example = Example(item)
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item):
            example = Example(item[0], item[1])
        else:
            raise ValueError(f"expected a text or a (text, text_pair), got {type(item).__name__}")
        if not example.text.strip() or (example.text_pair is not None and not example.text_pair.strip()):
            raise ValueError("empty or whitespace; there is nothing to predict in it")
        return example

    def label_set(self, examples: list[Example]) -> LabelSet:
        return LabelSet.from_examples(examples)

    def check_labels(self, examples, labels, origin: str) -> None:
        for example in examples:
            if example.label is not None and example.label not in labels.names:
                raise DataError(f"{example.origin or origin}: label {example.label!r} is not one of {list(labels.names)}")

    def features(self, examples, *, tokenizer, max_length, labels, config=None):
        return tokenize(examples, tokenizer=tokenizer, max_length=max_length, labels=labels)

    def collate(self, features, *, pad_token_id):
        return collate(features, pad_token_id=pad_token_id)

    def build_head(self, hidden_size, num_labels, config: ClassificationConfig) -> nn.Module:
        return LinearHead(hidden_size, num_labels, config.head_dropout)

    def logits(self, head, output, config: ClassificationConfig) -> torch.Tensor:
        if config.pooling == "cls":
            pooled = output.states[:, output.cls_index]
        elif config.pooling == "text_mean":
            pooled = pool(output.text_states, output.text_mask, pooling="mean", cls_index=0)
        else:
            pooled = pool(output.states, output.mask, pooling="mean", cls_index=0)
        return head(pooled)  # (batch, num_labels)

    def loss(self, logits, batch):
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def metrics(self, logits, features, label_names, *, config=None) -> dict:
        predictions = torch.stack(list(logits)).argmax(-1).numpy() if len(logits) else np.zeros(0, dtype=int)
        labels = np.array([f["label"] for f in features])
        return classification_metrics(labels=labels, predictions=predictions, label_names=list(label_names))

    def format_report(self, metrics, label_names) -> str:
        return format_metrics_table(metrics, list(label_names))

    def decode(self, logits, example, feature, label_names, *, config=None) -> dict:
        row = logits.float().softmax(-1).tolist()
        best = max(range(len(row)), key=row.__getitem__)
        return {"label": label_names[best],
                "probabilities": {name: round(p, 6) for name, p in zip(label_names, row)}}
