"""Predicting with a trained adapter: prompt table only, inference mode, length-sorted batches.

Options for CPU serving, each measured in BENCHMARKS.md before being recommended:
`precision="bf16"` (the frozen backbone stored and run in bf16, prompt table and head in fp32),
`quantize="int8"`
(dynamic int8 quantisation of the frozen backbone's Linear layers) and `compile=True`
(torch.compile of the model, with dynamic shapes for the varying batch lengths).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ptune.artifacts import load_adapter
from ptune.backbone import prefer_eager_attention
from ptune.data import Example, tokenize
from ptune.errors import ConfigError
from ptune.precision import cast_parameters, frozen_parameters
from ptune.training.evaluate import predict_logits

QUANTIZE_CHOICES = (None, "int8")


def quantize_backbone_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation of the backbone's Linear layers (weights int8, activations
    quantised per batch); the prompt table and head stay in fp32. CPU only."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao's deprecation notice; the kernels are what we measure
        warnings.simplefilter("ignore")
        # Child by child: on a transformers PreTrainedModel root, quantize_dynamic swaps nothing.
        for name, child in list(model.backbone.named_children()):
            setattr(model.backbone, name, quantize_dynamic(child, {nn.Linear}, dtype=torch.qint8))
    return model


class Predictor:
    """Loads an adapter once and labels texts (or text pairs) in batches.

    >>> Predictor("runs/sst2").predict(["a gripping, beautifully shot film"])
    [{'label': '1', 'probabilities': {'0': 0.03, '1': 0.97}}]
    """

    def __init__(self, adapter: str | Path, *, model_name: str | None = None, batch_size: int = 64,
                 allow_backbone_mismatch: bool = False, precision: str = "fp32", quantize: str | None = None,
                 compile: bool = False):
        from ptune.training.run import resolve_precision

        if quantize not in QUANTIZE_CHOICES:
            raise ConfigError("Predictor", [f"quantize={quantize!r}: expected one of {QUANTIZE_CHOICES}"])
        self.model, self.tokenizer, self.adapter_config = load_adapter(
            adapter, model_name=model_name, allow_backbone_mismatch=allow_backbone_mismatch
        )
        self.label_names = self.adapter_config["task"]["label_names"]
        self.batch_size = batch_size
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = resolve_precision(precision) == "bf16"
        if quantize and (self.bf16 or self.device.type != "cpu"):
            raise ConfigError("Predictor", ["quantize='int8' runs fp32 activations on the CPU; "
                                            "use it with precision='fp32' on a machine without CUDA"])
        if quantize == "int8":
            quantize_backbone_int8(self.model)
        self.model.to(self.device)
        if self.bf16:
            # Nothing in the backbone trains here: all of it is stored in bf16 once (predict_logits
            # then runs it without autocast); the prompt table and the head stay fp32.
            cast_parameters(frozen_parameters(self.model.backbone), torch.bfloat16)
            if self.device.type == "cpu":
                prefer_eager_attention(self.model)
        self.forward = torch.compile(self.model, dynamic=True) if compile else self.model

    def logits(self, examples: list[Example]) -> torch.Tensor:
        features = tokenize(examples, tokenizer=self.tokenizer, max_length=self.model.max_text_length(), labels=None)
        return predict_logits(self.forward, features, batch_size=self.batch_size,
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
