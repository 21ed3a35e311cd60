"""Predicting with a trained adapter: prompt table only, inference mode, length-sorted batches."""
from __future__ import annotations

from pathlib import Path

import torch

from ptune.artifacts import load_adapter
from ptune.backbone import prefer_eager_attention
from ptune.data import Example, tokenize
from ptune.training.evaluate import predict_logits


class Predictor:
    """Loads an adapter once and labels texts (or text pairs) in batches.

    >>> Predictor("runs/sst2").predict(["a gripping, beautifully shot film"])
    [{'label': '1', 'probabilities': {'0': 0.03, '1': 0.97}}]
    """

    def __init__(self, adapter: str | Path, *, model_name: str | None = None, batch_size: int = 64,
                 allow_backbone_mismatch: bool = False, precision: str = "fp32"):
        from ptune.training.run import resolve_precision

        self.model, self.tokenizer, self.adapter_config = load_adapter(
            adapter, model_name=model_name, allow_backbone_mismatch=allow_backbone_mismatch
        )
        self.label_names = self.adapter_config["task"]["label_names"]
        self.batch_size = batch_size
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = resolve_precision(precision) == "bf16"
        self.model.to(self.device)
        if self.bf16 and self.device.type == "cpu":
            prefer_eager_attention(self.model)

    def logits(self, examples: list[Example]) -> torch.Tensor:
        features = tokenize(examples, tokenizer=self.tokenizer, max_length=self.model.max_text_length(), labels=None)
        return predict_logits(self.model, features, batch_size=self.batch_size,
                              pad_token_id=self.tokenizer.pad_token_id, device=self.device, bf16=self.bf16)

    def predict(self, texts: list[str | tuple[str, str] | Example]) -> list[dict]:
        """One {label, probabilities} dict per input, in input order."""
        if not texts:
            return []
        examples = [t if isinstance(t, Example) else Example(*t) if isinstance(t, tuple) else Example(t) for t in texts]
        probabilities = self.logits(examples).softmax(-1)
        out = []
        for row in probabilities.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            out.append({"label": self.label_names[best],
                        "probabilities": {name: round(p, 6) for name, p in zip(self.label_names, row)}})
        return out
