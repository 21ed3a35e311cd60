"""Token classification (NER): a tag per word, read from the first word piece of each word.

Words are split into word pieces; the first piece of a word carries its tag and the others are
left out of the loss (-100), as are [CLS], [SEP], padding and any virtual tokens (the head reads
the text's states only). Predictions are decoded back to words, then to BIO entities with their
character offsets in the input text; scores are entity-level (seqeval).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ptune.data.conll import TaggedSentence, load_tagged
from ptune.data.examples import LabelSet
from ptune.errors import DataError
from ptune.tasks.base import Task, TaskConfig, register_task
from ptune.tasks.metrics import softmax
from ptune.tasks.spans import entity_spans

if TYPE_CHECKING:  # the head needs torch; features and decoding do not
    import torch
    from torch import nn

IGNORE = -100


@dataclass
class TokenClassificationConfig(TaskConfig):
    pass


@register_task
class TokenClassificationTask(Task):
    name = "token_classification"
    config_cls = TokenClassificationConfig
    primary_metric = "f1"
    metric_choices = ("f1", "precision", "recall", "accuracy")
    input_form = "words"

    def read(self, source, *, split: str, skip_bad_rows: bool = False, report=None, **_columns) -> list[TaggedSentence]:
        return load_tagged(source, split=split, skip_bad_rows=skip_bad_rows, report=report)

    def example(self, item, index: int = 0) -> TaggedSentence:
        if isinstance(item, TaggedSentence):
            example = item
        elif isinstance(item, str):
            example = TaggedSentence.from_text(item)
        elif isinstance(item, (tuple, list)) and all(isinstance(w, str) for w in item):
            example = TaggedSentence(tuple(item))
        else:
            raise ValueError(f"expected a text or a list of words, got {type(item).__name__}")
        if not example.words:
            raise ValueError("empty or whitespace; there is nothing to predict in it")
        return example

    def label_set(self, examples: list[TaggedSentence]) -> LabelSet:
        found = {tag for e in examples for tag in (e.tags or ())}
        # BIO: an entity type seen at all gets both its tags. A few sentences may hold only one-word
        # entities of a type (B-MISC, no I-MISC); its I- tag still exists, in dev and in use.
        found |= {f"{prefix}-{tag[2:]}" for tag in found if tag != "O" for prefix in "BI"}
        # "O" first, then by entity type and B before I: a readable order in tables.
        return LabelSet(tuple(sorted(found, key=lambda t: (t != "O", t[2:], t[:1]))))

    def check_labels(self, examples, labels, origin: str) -> None:
        known = set(labels.names)
        for example in examples:
            unknown = sorted(set(example.tags or ()) - known)
            if unknown:
                raise DataError(f"{example.origin or origin}: tag(s) {unknown} are not among the training tags "
                                f"{sorted(known)}: no training sentence has an entity of that type, so no "
                                "model trained on them can predict it; add training sentences that have one")

    def features(self, examples, *, tokenizer, max_length, labels, config=None):
        if not examples:
            return []
        encoded = tokenizer([list(e.words) for e in examples], is_split_into_words=True, truncation=True,
                            max_length=max_length, padding=False)
        features = []
        for index, example in enumerate(examples):
            first_piece = [-1] * len(example.words)  # -1: the word was cut off by max_length
            previous = None
            for position, word in enumerate(encoded.word_ids(index)):
                if word is not None and word != previous:
                    first_piece[word] = position
                previous = word
            feature = {"input_ids": encoded["input_ids"][index], "first_piece": first_piece}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][index]
            if labels is not None and example.tags is not None:
                targets = [IGNORE] * len(feature["input_ids"])
                for word, position in enumerate(first_piece):
                    if position >= 0:
                        targets[position] = labels.id(example.tags[word])
                feature["labels"] = targets
                feature["tags"] = list(example.tags)
            features.append(feature)
        return features

    def collate(self, features, *, pad_token_id):
        import torch

        from ptune.data.transforms import collate

        batch = collate([{k: f[k] for k in ("input_ids", "token_type_ids") if k in f} for f in features],
                        pad_token_id=pad_token_id)
        if all("labels" in f for f in features):
            labels = torch.full(batch["input_ids"].shape, IGNORE, dtype=torch.long)
            for row, feature in enumerate(features):
                labels[row, : len(feature["labels"])] = torch.tensor(feature["labels"])
            batch["labels"] = labels
        return batch

    def build_head(self, hidden_size, num_labels, config) -> nn.Module:
        from ptune.tasks.heads import LinearHead

        return LinearHead(hidden_size, num_labels, config.head_dropout)

    def logits(self, head, output, config) -> torch.Tensor:
        return head(output.text_states_at(config.layer))  # (batch, seq, num_labels): text tokens only, never virtual ones

    def loss(self, logits, batch):
        from torch import nn

        return nn.functional.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    def word_tags(self, logits: torch.Tensor, feature: dict, label_names) -> list[str]:
        """A tag per word: the first piece's argmax; "O" for a word cut off by max_length."""
        best = np.asarray(logits).argmax(-1).tolist()
        return [label_names[best[p]] if p >= 0 else "O" for p in feature["first_piece"]]

    def metrics(self, logits, features, label_names, *, config=None) -> dict:
        from seqeval.metrics import accuracy_score, classification_report

        gold = [f["tags"] for f in features]
        predicted = [self.word_tags(row, f, label_names) for row, f in zip(logits, features)]
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
        types = sorted(k for k in report if not k.endswith(" avg"))
        micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
        return {
            "f1": float(micro["f1-score"]), "precision": float(micro["precision"]), "recall": float(micro["recall"]),
            "accuracy": float(accuracy_score(gold, predicted)),
            "per_type": {t: {"precision": float(report[t]["precision"]), "recall": float(report[t]["recall"]),
                             "f1": float(report[t]["f1-score"]), "support": int(report[t]["support"])} for t in types},
            "num_examples": len(features),
            "truncated_words": sum(p < 0 for f in features for p in f["first_piece"]),
        }

    def format_report(self, metrics, label_names) -> str:
        lines = [f"entity F1 {metrics['f1']:.4f}   precision {metrics['precision']:.4f}   recall {metrics['recall']:.4f}   "
                 f"token accuracy {metrics['accuracy']:.4f}   sentences {metrics['num_examples']}", "",
                 f"{'type':<8}  precision  recall  f1      support"]
        for name, row in metrics["per_type"].items():
            lines.append(f"{name:<8}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7d}")
        if metrics.get("truncated_words"):
            lines.append(f"\n{metrics['truncated_words']} word(s) fell beyond max_length and were scored as O")
        return "\n".join(lines)

    def decode(self, logits, example: TaggedSentence, feature, label_names, *, config=None) -> dict:
        """Entities with their words and character offsets in the input text."""
        tags = self.word_tags(logits, feature, label_names)
        probabilities = softmax(logits)
        entities = []
        for kind, first, last in entity_spans(tags):
            positions = [feature["first_piece"][w] for w in range(first, last + 1) if feature["first_piece"][w] >= 0]
            score = float(probabilities[positions].max(-1).mean()) if positions else 0.0
            entity = {"type": kind, "words": [first, last + 1], "score": round(score, 6)}
            if example.spans is not None:
                start, end = example.spans[first][0], example.spans[last][1]
                entity.update(text=example.text[start:end], start=start, end=end)
            else:
                entity["text"] = " ".join(example.words[first: last + 1])
            entities.append(entity)
        return {"entities": entities, "tags": tags}
