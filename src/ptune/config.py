"""Config dataclasses for the model and the training run, validated on creation, JSON round trip."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptune.encoders import EncoderConfig, encoder_config_from_dict
from ptune.errors import ConfigError
from ptune.injections.catalog import INJECTION_MODULES
from ptune.runtime import (
    DEFAULT_DEVICE,
    DEFAULT_PRECISION,
    device_problems,
    precision_problems,
)
from ptune.tasks import ClassificationConfig, TaskConfig, task_config_from_dict
from ptune.validation import number_problems

PLACEMENTS = ("after_cls", "prefix")
MAX_EPOCHS = 10_000
"""More passes than this over any data set is a typo (`--epochs 1e12`), not a plan."""
MAX_STEPS = 10_000_000
"""More optimizer steps than this (`--min-steps`, `--contrastive-steps`) is a typo, not a plan."""
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}
"""`--report-to` choices -> the package each needs (`ptune.training.trackers` drives them)."""


def chosen_trackers(report_to: str) -> list[str]:
    return [] if report_to in ("", "none") else [name.strip() for name in report_to.split(",")]


def tracker_problems(report_to: str) -> list[str]:
    if any(name not in TRACKERS for name in chosen_trackers(report_to)):
        return [f"report_to={report_to!r}: expected 'none' or a comma-separated list of {sorted(TRACKERS)}"]
    return []
POOLINGS = ("cls", "mean", "text_mean")
HEAD_INITS = ("random", "probe")
MAX_AUTO_EVALUATIONS = 10
"""Evaluations of a run with eval_every=0 at most (ptune.training.loop.auto_eval_every)."""


@dataclass
class PTuningConfig:
    """One task adapter: how its prompt is made and injected, and the task head that reads the result."""

    num_virtual_tokens: int | None = None
    """Prompt positions k (default: the measured one for the task and injection, 20 unless ptune.defaults says otherwise)."""
    injection: str | None = None
    """`input`: k virtual tokens among the input embeddings (P-tuning); `deep`: k keys and values
    in every attention layer (P-tuning v2). Default: the task's measured default (ptune.defaults)."""
    placement: str = "after_cls"
    """Input-level prompts only. `after_cls`: [CLS] P1..Pk text [SEP]; text keeps its pretrained
    position ids and the head reads the real [CLS]. `prefix`: P1..Pk [CLS] text [SEP] with
    sequential positions (PEFT's layout)."""
    encoder: EncoderConfig | None = None
    """The prompt encoder (default: mlp for input-level prompts, embedding for deep ones)."""
    task: TaskConfig = field(default_factory=ClassificationConfig)
    backbone_dropout: bool = False
    """Keep the frozen backbone's own dropout active while training (False: deterministic features)."""
    max_length: int | None = None
    """Word pieces of text per example (input-level virtual tokens come on top, within the position
    limit); default 128, 384 for question answering (question + one context window)."""

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = encoder_config_from_dict(self.encoder)
        if isinstance(self.task, dict):
            self.task = task_config_from_dict(self.task)
        problems = number_problems(self)
        if problems:
            raise ConfigError("PTuningConfig", problems)
        # Settings left None depend on others (the task, the injection): ptune.settings.resolve_ptuning
        # fills them, where a run or a model is set up, never here.
        if self.injection is not None and self.injection not in INJECTION_MODULES:
            problems.append(f"injection={self.injection!r}: expected one of {sorted(INJECTION_MODULES)}")
        if self.num_virtual_tokens is not None and not 1 <= self.num_virtual_tokens <= 256:
            problems.append(f"num_virtual_tokens={self.num_virtual_tokens}: expected 1 to 256")
        if self.placement not in PLACEMENTS:
            problems.append(f"placement={self.placement!r}: expected one of {PLACEMENTS}")
        stride = getattr(self.task, "doc_stride", None)
        if stride is not None and self.max_length is not None and stride >= self.max_length:
            problems.append(f"doc_stride={stride} is not below max_length={self.max_length}: windows of a long "
                            "context must overlap by less than their length")
        if self.max_length is not None and self.max_length < 3:
            problems.append(f"max_length={self.max_length}: expected at least 3 ([CLS], a word piece of text, [SEP]); "
                            "with less the model reads no text at all")
        if problems:
            raise ConfigError("PTuningConfig", problems)

    @property
    def task_name(self) -> str:
        return self.task.name

    def is_resolved(self) -> bool:
        return None not in (self.injection, self.encoder, self.num_virtual_tokens, self.max_length)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["encoder"] = self.encoder.to_dict() if self.encoder is not None else None
        data["task"] = self.task.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PTuningConfig":
        data = upgrade_ptuning_dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("PTuningConfig", [f"unknown field(s) {unknown}; known: {sorted(known)}"])
        return cls(**data)


def upgrade_ptuning_dict(data: dict[str, Any]) -> dict[str, Any]:
    """Adapters of format 1 (ptune 0.1) kept the classification head's settings at the top level,
    and knew input-level prompts only."""
    data = dict(data)
    data.setdefault("injection", "input")
    if "task" not in data and ("pooling" in data or "head_dropout" in data):
        data["task"] = {"type": "classification", "pooling": data.pop("pooling", "mean"),
                        "head_dropout": data.pop("head_dropout", 0.1)}
    return data


@dataclass
class TrainConfig:
    """One training run. Learning rates follow the seed lab's guidance (1e-4 to 1e-2 for prompts)."""

    epochs: float = 1.0
    batch_size: int = 32
    min_steps: int = 0
    """Train at least this many optimizer steps, more epochs if need be (small data sets); the
    resolver sets ptune.defaults.SMALL_DATA_MIN_STEPS when `epochs` is not given."""
    lr: float | None = None
    """Learning rate of the prompt encoder (default: the measured one for the task and injection, ptune.defaults)."""
    head_lr: float | None = None
    """Learning rate of the head (default: as lr)."""
    weight_decay: float = 0.01
    """Applied to head weights only; prompt parameters get none."""
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this value; 0 turns clipping off."""
    seed: int = 0
    max_train_samples: int | None = None
    eval_every: int = 0
    """Evaluate (and checkpoint) every N optimizer steps; 0 = automatic: at the end of each epoch when
    that is at most MAX_AUTO_EVALUATIONS a run and dev examples scored stay within training examples
    seen, else evenly by steps within both limits (a small set is scored once, at the end)."""
    eval_batch_size: int = 64
    early_stopping_patience: int = 0
    """Stop after this many evaluations without a better dev metric; 0 = never stop early."""
    metric: str | None = None
    """The dev metric that picks the best checkpoint (default: the task's own, accuracy or entity F1)."""
    group_by_length: bool = True
    """Batches of similar length in a shuffled order: far less padding, same examples per epoch."""
    precision: str = DEFAULT_PRECISION
    """`fp32`, `bf16` (autocast, fp32 master weights) or `auto` (bf16 where the hardware computes it natively)."""
    device: str = DEFAULT_DEVICE
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`."""
    fp32_finish: float = 0.0
    """Under bf16, run this fraction of the optimizer steps, the last ones, in fp32 (0 to 1)."""
    head_init: str | None = None
    """How the head starts: `random` (N(0, 0.02) weights), or `probe`: the logistic regression fitted to
    convergence on what the head reads of the training rows, with the prompt as it starts (LP-FT).
    Default: the task's measured recipe (ptune.defaults.START_RECIPES)."""
    choose_layer: bool | None = None
    """Before training, choose the layer the head reads (TaskConfig.layer) by cross-validated logistic
    probes on the training rows, one per layer, with the prompt as it starts (classification, NER).
    Default: the task's measured recipe, unless a layer is given."""
    contrastive_steps: int | None = None
    """Before the head is fitted or trained, train the prompt this many steps on the pair objective
    (ptune.training.contrastive: SetFit's cosine-similarity loss on pairs of training rows, the
    backbone frozen), `batch_size` pairs a step; sentence classification with a linear head. 0: off.
    Default: the task's measured recipe for the data's size (ptune.defaults.START_RECIPES)."""
    init_from: str | None = None
    """An adapter folder whose prompt starts this one (a related task's, or a multi-task run's
    shared prompt); its head too when the task and labels are the same."""
    report_to: str = "none"
    """Experiment trackers: `tensorboard` (event files in <output>/tensorboard), `wandb`, both comma-separated, or `none`."""

    def __post_init__(self) -> None:
        problems = number_problems(self)
        if problems:
            raise ConfigError("TrainConfig", problems)
        if not 0 < self.epochs <= MAX_EPOCHS:
            problems.append(f"epochs={self.epochs}: expected > 0 and at most {MAX_EPOCHS}")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}: expected >= 1")
        for name in ("lr", "head_lr"):
            if getattr(self, name) is not None and not 0 < getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}: expected 0 < lr < 1, e.g. 5e-3")
        if self.max_grad_norm < 0:
            problems.append(f"max_grad_norm={self.max_grad_norm}: expected >= 0 (0 turns clipping off); "
                            "a negative norm would flip the gradient")
        if self.weight_decay < 0:
            problems.append(f"weight_decay={self.weight_decay}: expected >= 0, e.g. 0.01")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio={self.warmup_ratio}: expected 0 <= ratio < 1")
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed={self.seed}: expected 0 to {2**32 - 1} (the range numpy and torch seed from)")
        if self.contrastive_steps is not None and not 0 <= self.contrastive_steps <= MAX_STEPS:
            problems.append(f"contrastive_steps={self.contrastive_steps}: expected 0 (off) to {MAX_STEPS:,}, e.g. 200")
        if not 0 <= self.min_steps <= MAX_STEPS:
            problems.append(f"min_steps={self.min_steps}: expected 0 (epochs alone decide) to {MAX_STEPS:,}")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            problems.append(f"max_train_samples={self.max_train_samples}: expected >= 1 or None")
        if self.eval_every < 0 or self.early_stopping_patience < 0:
            problems.append("eval_every and early_stopping_patience must be >= 0")
        if self.metric not in (None, "accuracy", "macro_f1", "f1", "precision", "recall", "exact"):
            problems.append(f"metric={self.metric!r}: expected accuracy or macro_f1 (classification), "
                            "f1, precision or recall (token classification), f1 or exact (question answering)")
        if not 0 <= self.fp32_finish <= 1:
            problems.append(f"fp32_finish={self.fp32_finish}: expected a fraction of the steps, 0 to 1 (e.g. 0.2)")
        if self.init_from is not None and not str(self.init_from).strip():
            problems.append("init_from='': expected an adapter folder, or leave it out to start fresh")
        if self.head_init is not None and self.head_init not in HEAD_INITS:
            problems.append(f"head_init={self.head_init!r}: expected one of {list(HEAD_INITS)}")
        problems += precision_problems(self.precision) + device_problems(self.device)
        problems += tracker_problems(self.report_to)
        if problems:
            raise ConfigError("TrainConfig", problems)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def write_json(path: Path, data: Any) -> None:
    """Written whole or not at all (a full disk leaves the previous file)."""
    from ptune.format.files import atomic_write

    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write(Path(path), lambda temp: temp.write_text(text))
