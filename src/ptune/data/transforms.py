"""Pure transforms: examples -> token features -> padded batch tensors. Features need no torch (a
server of ONNX exports makes them without it); only `collate` imports it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ptune.data.examples import Example, LabelSet
from ptune.errors import DataError

if TYPE_CHECKING:
    import torch


def tokenize(examples: list[Example], *, tokenizer, max_length: int, labels: LabelSet | None) -> list[dict]:
    """One feature dict per example: input_ids, token_type_ids (if the tokenizer makes them), label."""
    texts = [e.text for e in examples]
    pairs = [e.text_pair for e in examples]
    has_pairs = any(p is not None for p in pairs)
    if has_pairs and not all(p is not None for p in pairs):
        raise DataError("mixed single texts and text pairs in one data set; give every row both texts")
    encoded = tokenizer(
        texts, pairs if has_pairs else None, truncation=True, max_length=max_length, padding=False
    )
    features = []
    for index, example in enumerate(examples):
        feature = {"input_ids": encoded["input_ids"][index]}
        if "token_type_ids" in encoded:
            feature["token_type_ids"] = encoded["token_type_ids"][index]
        add_label(feature, example, labels)
        features.append(feature)
    return features


def add_label(feature: dict, example: Example, labels: LabelSet | None) -> dict:
    """`feature` with the example's label id (when it has a label and a label set is given)."""
    if labels is not None and example.label is not None:
        if example.label not in labels.names:
            raise DataError(f"{example.origin}: label {example.label!r} is not one of {list(labels.names)}")
        feature["label"] = labels.id(example.label)
    return feature


def collate(features: list[dict], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pads to the longest sequence in the batch (dynamic padding), on the right."""
    import torch

    longest = max(len(f["input_ids"]) for f in features)
    batch = len(features)
    input_ids = torch.full((batch, longest), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, longest), dtype=torch.long)
    token_type_ids = torch.zeros((batch, longest), dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature["input_ids"])
        input_ids[row, :n] = torch.tensor(feature["input_ids"])
        attention_mask[row, :n] = 1
        if "token_type_ids" in feature:
            token_type_ids[row, :n] = torch.tensor(feature["token_type_ids"])
    out = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if all("label" in f for f in features):
        out["labels"] = torch.tensor([f["label"] for f in features], dtype=torch.long)
    return out
