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

from ptune.engine.model import load_adapter
from ptune.data import Example
from ptune.data.conll import TaggedSentence
from ptune.errors import ConfigError
from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION, resolve_device, uses_bf16
from ptune.engine.batched import predict_outputs

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

        Predictor("runs/sst2").predict(["a gripping, beautifully shot film"])
        # [{"label": ..., "probabilities": {label: p, ...}}], one per input
    """

    def __init__(self, adapter: str | Path, *, model_name: str | None = None, batch_size: int = 64,
                 allow_backbone_mismatch: bool = False, precision: str = DEFAULT_PRECISION, quantize: str | None = None,
                 compile: bool = False, device: str = DEFAULT_DEVICE):
        if batch_size < 1:
            raise ConfigError("Predictor", [f"batch_size={batch_size}: expected >= 1"])
        if quantize not in QUANTIZE_CHOICES:
            raise ConfigError("Predictor", [f"quantize={quantize!r}: expected one of {QUANTIZE_CHOICES}"])
        target = resolve_device(device)
        if quantize and precision == "auto":
            precision = "fp32"  # int8 kernels take fp32 activations
        if quantize and (uses_bf16(precision, target) or target.type != "cpu"):
            raise ConfigError("Predictor", ["quantize='int8' runs fp32 activations on the CPU; use it with "
                                            "precision='fp32' (--precision fp32) on the CPU (--device cpu)"])
        self.model, self.tokenizer, self.adapter_config = load_adapter(
            adapter, model_name=model_name, allow_backbone_mismatch=allow_backbone_mismatch
        )
        self.label_names = self.adapter_config["task"]["label_names"]
        self.batch_size = batch_size
        if quantize == "int8":
            quantize_backbone_int8(self.model)
        # The engine decides device and precision, as it does for the bank and the server: in bf16
        # the frozen backbone is stored in bf16 once, the prompt table and the head stay fp32.
        self.model.to(target)
        self.model.engine.configure(device=target, precision=precision)
        self.device, self.bf16 = target, self.model.engine.bf16
        self.forward = torch.compile(self.model, dynamic=True) if compile else self.model

    @property
    def task(self):
        return self.model.task

    def outputs(self, examples: list) -> list[torch.Tensor]:
        """One logits tensor per example: (labels,) for a classifier, (tokens, labels) for a tagger."""
        features = self.task.features(examples, tokenizer=self.tokenizer, max_length=self.model.max_text_length(),
                                      labels=None, config=self.model.config.task)
        return predict_outputs(self.forward, features, batch_size=self.batch_size,
                               pad_token_id=self.tokenizer.pad_token_id, device=self.device, bf16=self.bf16,
                               collate_fn=self.task.collate)

    def logits(self, examples: list[Example]) -> torch.Tensor:
        """(examples, labels) logits of a classification adapter."""
        if self.task.name != "classification":
            raise ConfigError("Predictor.logits", [f"one row of logits per example exists for classification only; "
                                                   f"this adapter is {self.task.name}: use outputs() or predict()"])
        return torch.stack(self.outputs(examples))

    def examples(self, inputs: list) -> list:
        """Texts, (text, pair) tuples, {question, context} dicts or the task's examples -> its examples."""
        if isinstance(inputs, (str, dict, Example, TaggedSentence)):
            raise ConfigError("Predictor.predict", [f"expected a list of inputs, got one {type(inputs).__name__} "
                                                    f"({str(inputs)[:40]!r}); wrap it in a list: predict([text])"])
        examples, problems = [], []
        for i, item in enumerate(inputs):
            try:
                examples.append(self.task.example(item, i))
            except ValueError as err:
                problems.append(f"input {i}: {err}")
        if problems:
            raise ConfigError("Predictor.predict", problems[:10])
        return examples

    def predict(self, inputs: list) -> list[dict]:
        """One dict per input, in input order: {label, probabilities} for a classifier, {entities,
        tags} for a tagger (each entity with its type, text and character offsets)."""
        examples = self.examples(inputs)
        if not examples:
            return []
        features = self.task.features(examples, tokenizer=self.tokenizer, max_length=self.model.max_text_length(),
                                      labels=None, config=self.model.config.task)
        outputs = predict_outputs(self.forward, features, batch_size=self.batch_size,
                                  pad_token_id=self.tokenizer.pad_token_id, device=self.device, bf16=self.bf16,
                                  collate_fn=self.task.collate)
        return self.task.decode_batch(outputs, examples, features, self.label_names, config=self.model.config.task)
