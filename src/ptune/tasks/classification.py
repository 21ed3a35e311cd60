"""Sentence and sentence-pair classification: one label per input, from a pooled state."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from ptune.data.examples import Example, LabelSet
from ptune.data.sources import load_examples
from ptune.data.transforms import collate, tokenize
from ptune.errors import DataError
from ptune.tasks.cloze import Verbalizer, cloze_features, parse_label_words, template_problems
from ptune.tasks.base import Task, TaskConfig, register_task
from ptune.tasks.metrics import classification_metrics, format_metrics_table, softmax

if TYPE_CHECKING:  # the head needs torch; features and decoding do not
    import torch
    from torch import nn

POOLINGS = ("cls", "mean", "text_mean")
HEADS = ("linear", "cloze")


@dataclass
class ClassificationConfig(TaskConfig):
    pooling: str = "mean"
    """What the head reads: `cls` (the real [CLS] state), `mean` (masked mean over all states,
    input-level virtual tokens included) or `text_mean` (mean over the text's states only)."""
    head: str = "linear"
    """`linear` (a linear map of the pooled state) or `cloze` (P-Tuning's original form: the text in
    `template`, each label scored at its [MASK] by its `label_words`)."""
    template: str = "{prompt} {text} It was [MASK]."
    """Cloze template: {text} (and {text_pair} for pairs), one [MASK], and {prompt} first if at all."""
    label_words: dict | None = None
    """Cloze verbalizer: each label's word(s), one vocabulary piece each, e.g. negative=terrible|bad,positive=great.
    They are scored at the [MASK] by the backbone's pretrained MLM head, frozen."""
    label_token_ids: list | None = None
    """The label words' vocabulary ids per label (filled in from the tokenizer when training starts)."""
    mask_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.label_words is not None and not isinstance(self.label_words, dict):
            self.label_words = parse_label_words(self.label_words)  # the command line's LABEL=WORD|WORD,...
        super().__post_init__()

    def problems(self) -> list[str]:
        found = super().problems()
        if self.pooling not in POOLINGS:
            found.append(f"pooling={self.pooling!r}: expected one of {POOLINGS}")
        if self.head not in HEADS:
            found.append(f"head={self.head!r}: expected one of {HEADS}")
        if self.head == "cloze" and self.layer is not None:
            found.append(f"layer={self.layer}: the cloze head reads the mask through the backbone's MLM head, which "
                         "reads the last layer; leave layer unset")
        if self.head == "cloze":
            found += template_problems(self.template)
            if not self.label_words:
                found.append("head='cloze' needs label_words, a word (or words) per label, "
                             "e.g. --label-words negative=terrible,positive=great")
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

    def bind_tokenizer(self, config: ClassificationConfig, tokenizer, labels) -> ClassificationConfig:
        if config.head != "cloze":
            return config
        if tokenizer.mask_token_id is None:
            raise DataError("this backbone's tokenizer has no mask token; the cloze head needs one (use --head linear)")
        verbalizer = Verbalizer.resolve(config.label_words, label_names=labels.names, tokenizer=tokenizer)
        return dataclasses.replace(config, label_token_ids=verbalizer.token_ids, mask_token_id=tokenizer.mask_token_id)

    def features(self, examples, *, tokenizer, max_length, labels, config=None):
        if config is not None and config.head == "cloze":
            return cloze_features(examples, tokenizer=tokenizer, max_length=max_length, labels=labels, config=config)
        return tokenize(examples, tokenizer=tokenizer, max_length=max_length, labels=labels)

    def collate(self, features, *, pad_token_id):
        return collate(features, pad_token_id=pad_token_id)

    def build_head(self, hidden_size, num_labels, config: ClassificationConfig) -> nn.Module:
        from ptune.tasks.heads import ClozeHead, LinearHead

        if config.head == "cloze":
            if config.label_token_ids is None or len(config.label_token_ids) != num_labels:
                raise DataError("the cloze head's label words were not resolved against the tokenizer "
                                "(Task.bind_tokenizer runs before the model is built)")
            return ClozeHead(token_ids=config.label_token_ids, mask_token_id=config.mask_token_id)
        return LinearHead(hidden_size, num_labels, config.head_dropout)

    def logits(self, head, output, config: ClassificationConfig) -> torch.Tensor:
        from ptune.tasks.heads import pool

        if config.head == "cloze":
            return head(output)
        states = output.states_at(config.layer)
        if config.pooling == "cls":
            pooled = states[:, output.cls_index]
        elif config.pooling == "text_mean":
            pooled = pool(states[:, output.text_index], output.text_mask, pooling="mean", cls_index=0)
        else:
            pooled = pool(states, output.mask, pooling="mean", cls_index=0)
        return head(pooled)  # (batch, num_labels)

    def loss(self, logits, batch):
        from torch import nn

        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def metrics(self, logits, features, label_names, *, config=None) -> dict:
        predictions = np.stack([np.asarray(row) for row in logits]).argmax(-1) if len(logits) else np.zeros(0, dtype=int)
        labels = np.array([f["label"] for f in features])
        return classification_metrics(labels=labels, predictions=predictions, label_names=list(label_names))

    def format_report(self, metrics, label_names) -> str:
        return format_metrics_table(metrics, list(label_names))

    def decode(self, logits, example, feature, label_names, *, config=None) -> dict:
        row = softmax(logits).tolist()
        best = max(range(len(row)), key=row.__getitem__)
        return {"label": label_names[best],
                "probabilities": {name: round(p, 6) for name, p in zip(label_names, row)}}
