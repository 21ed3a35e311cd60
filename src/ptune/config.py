"""Config dataclasses for the model and the training run, validated on creation, JSON round trip."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptune.encoders import EncoderConfig, MLPEncoderConfig, encoder_config_from_dict
from ptune.errors import ConfigError

PLACEMENTS = ("after_cls", "prefix")
POOLINGS = ("cls", "mean", "text_mean")


@dataclass
class PTuningConfig:
    """How the virtual tokens are made and placed, and how the head reads the sequence."""

    num_virtual_tokens: int = 20
    placement: str = "after_cls"
    """`after_cls`: [CLS] P1..Pk text [SEP]; text keeps its pretrained position ids and the head
    reads the real [CLS]. `prefix`: P1..Pk [CLS] text [SEP] with sequential positions (PEFT's layout)."""
    pooling: str = "mean"
    """What the head reads: `cls` (the real [CLS] state), `mean` (masked mean over all states,
    virtual tokens included) or `text_mean` (mean over the text's states only)."""
    encoder: EncoderConfig = field(default_factory=MLPEncoderConfig)
    head_dropout: float = 0.1
    backbone_dropout: bool = False
    """Keep the frozen backbone's own dropout active while training (False: deterministic features)."""
    max_length: int = 128
    """Word pieces of text per example (virtual tokens come on top, within the position limit)."""

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = encoder_config_from_dict(self.encoder)
        problems = []
        if not 1 <= self.num_virtual_tokens <= 256:
            problems.append(f"num_virtual_tokens={self.num_virtual_tokens}: expected 1 to 256")
        if self.placement not in PLACEMENTS:
            problems.append(f"placement={self.placement!r}: expected one of {PLACEMENTS}")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling={self.pooling!r}: expected one of {POOLINGS}")
        if not 0.0 <= self.head_dropout < 1.0:
            problems.append(f"head_dropout={self.head_dropout}: expected 0 <= dropout < 1")
        if self.max_length < 2:
            problems.append(f"max_length={self.max_length}: expected at least 2 (for [CLS] and [SEP])")
        if problems:
            raise ConfigError("PTuningConfig", problems)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["encoder"] = self.encoder.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PTuningConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("PTuningConfig", [f"unknown field(s) {unknown}; known: {sorted(known)}"])
        return cls(**data)


@dataclass
class TrainConfig:
    """One training run. Learning rates follow the seed lab's guidance (1e-4 to 1e-2 for prompts)."""

    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 5e-3
    """Learning rate of the prompt encoder."""
    head_lr: float = 5e-3
    weight_decay: float = 0.01
    """Applied to head weights only; prompt parameters get none."""
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 0
    max_train_samples: int | None = None
    eval_every: int = 0
    """Evaluate (and checkpoint) every N optimizer steps; 0 = only at the end of each epoch."""
    eval_batch_size: int = 64
    early_stopping_patience: int = 0
    """Stop after this many evaluations without a better dev metric; 0 = never stop early."""
    metric: str = "accuracy"
    group_by_length: bool = True
    """Batches of similar length in a shuffled order: far less padding, same examples per epoch."""
    precision: str = "auto"
    """`fp32`, `bf16` (autocast, fp32 master weights) or `auto` (bf16 where the hardware has it)."""
    fp32_finish: float = 0.0
    """Under bf16, run this fraction of the optimizer steps, the last ones, in fp32 (0 to 1)."""

    def __post_init__(self) -> None:
        problems = []
        if self.epochs <= 0:
            problems.append(f"epochs={self.epochs}: expected > 0")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}: expected >= 1")
        for name in ("lr", "head_lr"):
            if not 0 < getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}: expected 0 < lr < 1, e.g. 5e-3")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio={self.warmup_ratio}: expected 0 <= ratio < 1")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            problems.append(f"max_train_samples={self.max_train_samples}: expected >= 1 or None")
        if self.eval_every < 0 or self.early_stopping_patience < 0:
            problems.append("eval_every and early_stopping_patience must be >= 0")
        if self.metric not in ("accuracy", "macro_f1"):
            problems.append(f"metric={self.metric!r}: expected 'accuracy' or 'macro_f1'")
        if not 0 <= self.fp32_finish <= 1:
            problems.append(f"fp32_finish={self.fp32_finish}: expected a fraction of the steps, 0 to 1 (e.g. 0.2)")
        if self.precision not in ("auto", "fp32", "bf16"):
            problems.append(f"precision={self.precision!r}: expected 'auto', 'fp32' or 'bf16'")
        if problems:
            raise ConfigError("TrainConfig", problems)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
