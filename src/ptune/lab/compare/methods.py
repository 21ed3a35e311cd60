"""The methods `ptune compare` can run, and the `name[key=value;...]` syntax that configures them.

    ptune                       ptune's P-tuning, default configuration
    ptune[encoder=lstm]         any PTuningConfig / encoder / TrainConfig field can be set
    peft-ptuning                HF PEFT's P-tuning (the peer)
    peft-prompt, peft-prefix    HF PEFT's prompt tuning and prefix tuning
    peft-lora[r=16]             HF PEFT's LoRA
    bitfit, full-ft             implemented in ptune on transformers' classification model
    linear-probe                frozen backbone + ptune's head, no virtual tokens
    logistic-probe              the same head fitted to convergence (logistic regression, C by
                                cross-validation on the training rows); no learning rate
    setfit                      the `setfit` package with its documented defaults (sentence tasks)

Each method has its own default learning rates (stated in every result row); `lr=` and
`head_lr=` override them like any other TrainConfig field.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from ptune.config import TrainConfig
from ptune.errors import ConfigError

TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class BuildContext:
    """What every builder gets: where the backbone is, the task, the seed, the text budget."""

    model_name: str | None
    model_path: str
    num_labels: int
    seed: int
    max_length: int
    task: str = "classification"
    labels: Any = None
    """The training data's ptune.data.LabelSet (a cloze head resolves its label words against it)."""
    inputs: str = "text"
    """The training rows' input form, `text` or `pair` (ptune's default encoder depends on it)."""


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    """The row name in tables, as the seed lab writes it."""
    lr: float | None
    """None: ptune's measured default for the task and injection (ptune.defaults)."""
    head_lr: float | None
    build: Callable[[BuildContext, dict], Any]
    source: str
    """Who implements it: `ptune` or `peft`."""


def _build_ptune(context: BuildContext, settings: dict):
    """ptune through the one resolver (ptune.settings), as `ptune train` and the API build it."""
    from ptune.engine.backbone import load_backbone
    from ptune.engine.model import PTuningModel
    from ptune.settings import resolve
    from ptune.tasks import get_task

    try:
        resolved = resolve(context.task, {"max_length": context.max_length, **settings}, inputs=context.inputs)
    except ConfigError as err:
        raise ConfigError("method", [f"ptune: {err}"]) from None
    backbone, tokenizer = load_backbone(context.model_name)
    ptuning = resolved.ptuning
    if context.labels is not None:
        task = get_task(context.task)
        ptuning = dataclasses.replace(ptuning, task=task.bind_tokenizer(ptuning.task, tokenizer, context.labels))
    return PTuningModel(backbone, ptuning, num_labels=context.num_labels, seed=context.seed)


def _build_linear_probe(context: BuildContext, settings: dict):
    from ptune.engine.backbone import load_backbone

    _check_kwargs(_baselines().LinearProbe, settings, skip=("backbone", "num_labels", "seed", "task"))
    backbone, _ = load_backbone(context.model_name)
    return _baselines().LinearProbe(backbone, num_labels=context.num_labels, seed=context.seed, task=context.task,
                                 **settings)


def _build_logistic_probe(context: BuildContext, settings: dict):
    from ptune.engine.backbone import load_backbone
    from ptune.lab.compare.logistic_probe import LogisticProbe

    _check_kwargs(_baselines().LinearProbe, settings, skip=("backbone", "num_labels", "seed", "task", "head_dropout"))
    backbone, _ = load_backbone(context.model_name)
    return LogisticProbe(backbone, num_labels=context.num_labels, seed=context.seed, task=context.task, **settings)


def _build_setfit(context: BuildContext, settings: dict):
    from ptune.lab.compare.setfit_method import SetFitClassifier

    if settings:
        raise ConfigError("method", [f"setfit runs with its documented defaults; {sorted(settings)} not understood"])
    return SetFitClassifier(context.model_path, num_labels=context.num_labels, seed=context.seed, task=context.task)


def _hf(train: str):
    def build(context: BuildContext, settings: dict):
        _check_kwargs(_baselines().build_hf_classifier, settings, skip=("model_path", "num_labels", "seed", "train", "task"))
        return _baselines().build_hf_classifier(context.model_path, num_labels=context.num_labels, seed=context.seed,
                                             train=train, task=context.task)
    return build


def _baselines():
    """The baselines' module (torch): imported when a cell is built, so the command line stays light."""
    return importlib.import_module("ptune.lab.compare.baselines")


def _peft(builder_name: str):
    def build(context: BuildContext, settings: dict):
        builder = getattr(importlib.import_module("ptune.lab.compare.peft_methods"), builder_name)
        _check_kwargs(builder, settings, skip=("model_path", "num_labels", "seed", "task"))
        if "task" in inspect.signature(builder).parameters:
            return builder(context.model_path, num_labels=context.num_labels, seed=context.seed, task=context.task,
                           **settings)
        if context.task != "classification":
            raise ConfigError("method", [f"{builder.__name__} is wired for sequence classification only; "
                                         f"for {context.task} use ptune, peft-lora, full-ft or linear-probe"])
        return builder(context.model_path, num_labels=context.num_labels, seed=context.seed, **settings)
    return build


def _check_kwargs(function, settings: dict, *, skip=()) -> None:
    accepted = [n for n in inspect.signature(function).parameters if n not in skip and n != "self"]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ConfigError("method", [f"{unknown} not understood; settings for this method: "
                                     f"{sorted(accepted)} and the TrainConfig fields {sorted(TRAIN_FIELDS)}"])


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("ptune", "P-Tuning (ptune)", None, None, _build_ptune, "ptune"),
    Method("peft-ptuning", "P-Tuning (PEFT)", 5e-3, 5e-3, _peft("build_peft_ptuning"), "peft"),
    Method("peft-prompt", "Prompt Tuning (PEFT)", 1e-2, 1e-2, _peft("build_peft_prompt_tuning"), "peft"),
    Method("peft-prefix", "Prefix Tuning (PEFT)", 1e-2, 1e-2, _peft("build_peft_prefix_tuning"), "peft"),
    Method("peft-lora", "LoRA (PEFT)", 5e-4, 5e-4, _peft("build_peft_lora"), "peft"),
    Method("bitfit", "BitFit", 1e-3, 1e-3, _hf("bias"), "ptune"),
    Method("full-ft", "Full fine-tuning", 5e-5, 5e-5, _hf("all"), "ptune"),
    Method("linear-probe", "Linear probe (no virtual tokens)", 5e-3, 5e-3, _build_linear_probe, "ptune"),
    Method("logistic-probe", "Linear probe, converged (logistic regression)", None, None, _build_logistic_probe,
           "ptune"),
    Method("setfit", "SetFit (contrastive body + logistic head)", None, None, _build_setfit, "setfit"),
]}
"""Default learning rates: the sst2-minilm reference settings (the better of those tried there);
the linear probe uses ptune's head learning rate, so it differs from ptune only in the prompt. The
logistic probe has none: it is fitted in closed form."""

TABLE_6_1 = ["ptune", "peft-ptuning", "peft-prompt", "peft-prefix", "peft-lora", "bitfit", "full-ft", "linear-probe"]
TOKEN_TABLE = ["ptune", "ptune[injection=deep]", "peft-lora", "full-ft", "linear-probe"]
"""The conll-minilm grid: shallow and deep ptune, LoRA, full fine-tuning and the token linear probe."""


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method string: the registered method and its settings."""

    text: str
    method: Method
    settings: dict

    @property
    def model_settings(self) -> dict:
        return {k: v for k, v in self.settings.items() if k not in TRAIN_FIELDS}

    @property
    def train_settings(self) -> dict:
        return {k: v for k, v in self.settings.items() if k in TRAIN_FIELDS}


def parse_method(text: str) -> MethodSpec:
    """`ptune[encoder=lstm;lr=1e-2]` -> MethodSpec(ptune, {"encoder": "lstm", "lr": 0.01})."""
    text = text.strip()
    base, settings = text, {}
    if "[" in text:
        if not text.endswith("]"):
            raise ConfigError("method", [f"{text!r}: settings go in brackets at the end, e.g. ptune[lr=1e-2;depth=2]"])
        base, rest = text[:-1].split("[", 1)
        for item in filter(None, (part.strip() for part in rest.split(";"))):
            if "=" not in item:
                raise ConfigError("method", [f"{text!r}: {item!r} is not key=value"])
            key, value = item.split("=", 1)
            settings[key.strip()] = parse_value(value.strip())
    if base not in METHODS:
        raise ConfigError("method", [f"{base!r} is not a method; known: {', '.join(METHODS)}"])
    return MethodSpec(text=text, method=METHODS[base], settings=settings)


def parse_value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def split_methods(text: str) -> list[str]:
    """Comma-separated method strings; commas inside brackets belong to a setting."""
    methods, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            methods.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        methods.append(current.strip())
    return methods
