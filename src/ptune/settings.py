"""The one resolver of settings: (task, user settings) -> complete PTuningConfig and TrainConfig.

Every entry point goes through `resolve`: `ptune train` (flags and `--config`), the Python API
(`ptune.train`), `ptune compare`/`ablate` cells, multi-task specs and the demo. A setting the user
left out takes the measured default of `ptune.defaults` for the task, injection and encoder, so
what a user runs with no flags is what BENCHMARKS.md measured.

Settings are flat: any field of PTuningConfig, of the chosen encoder's config (bare, as in
`ptune[depth=2]`, or prefixed, as the CLI's `--encoder-depth` gives `encoder_depth`), of the
task's config, or of TrainConfig; `encoder` names the encoder.

    resolve("classification", {"epochs": 2})
    # Resolved(ptuning=PTuningConfig(injection="deep", num_virtual_tokens=20, ...),
    #          training=TrainConfig(lr=0.03, head_lr=0.03, head_init="random", epochs=2, ...))

A setting that depends on the size of the training set (how an adapter starts:
ptune.defaults.RECIPE_MAX_TRAIN_ROWS) waits until the run has counted its rows. A run
(`ptune train`, the demo) therefore takes `given_settings` (the adapter's settings decided, the
training settings as given) and decides the training settings in one `resolve_training(...,
train_rows=n, train_labels=m)` call; `resolve(task, settings, train_rows=n)` does both at once.
Likewise the encoder of deep prompts for classification depends on whether the training rows are
sentence pairs (ptune.defaults.PAIR_ENCODERS): `given_settings` leaves it undecided (None) when the
user named none, and the run decides it once it has read its rows (`resolve_ptuning(...,
inputs="pair")`), before the learning rate that depends on it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ptune.config import PTuningConfig, TrainConfig
from ptune.defaults import (
    DEFAULT_ENCODERS,
    PLAIN_START,
    PROBE_HEAD_LR,
    SMALL_DATA_MIN_STEPS,
    START_RECIPES,
    default_encoder,
    default_injection,
    default_learning_rate,
    default_max_length,
    default_prompt_length,
    default_start,
    encoder_depends_on_inputs,
)
from ptune.encoders import ENCODER_CONFIGS, EncoderConfig
from ptune.errors import ConfigError
from ptune.tasks import get_task
from ptune.tasks.input_forms import INPUT_FORMS

PTUNING_FIELDS = frozenset(f.name for f in dataclasses.fields(PTuningConfig)) - {"encoder", "task"}
TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
ENCODER_PREFIX = "encoder_"


def flags(names, prefix: str = "") -> str:
    """The command-line flags of settings: ['doc_stride'] -> '--doc-stride'."""
    return ", ".join(f"--{prefix}{name.replace('_', '-')}" for name in names)


def encoder_fields(name: str) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(ENCODER_CONFIGS[name]))


ALL_ENCODER_FIELDS = frozenset().union(*(encoder_fields(n) for n in ENCODER_CONFIGS))


@dataclass(frozen=True)
class Resolved:
    """A complete adapter and training configuration: no setting is left to a later default."""

    ptuning: PTuningConfig
    training: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {"ptuning": self.ptuning.to_dict(), "training": self.training.to_dict()}


def resolve(task: str = "classification", settings: Mapping[str, Any] | None = None, *,
            train_rows: int | None = None, train_labels: int | None = None, inputs: str = "text") -> Resolved:
    """Flat user settings for `task` -> every setting decided (see the module docstring), for training
    rows of input form `inputs` (ptune.tasks.input_forms: `text`, `pair` for sentence pairs, whose
    deep prompts default to the MLP encoder, `words`, `qa`)."""
    if inputs not in INPUT_FORMS:
        raise ConfigError("settings", [f"inputs={inputs!r}: expected one of {sorted(INPUT_FORMS)}"])
    ptuning, training = given_settings(task, settings)
    ptuning = resolve_ptuning(ptuning, inputs=inputs)
    return Resolved(ptuning=ptuning, training=resolve_training(training, ptuning, train_rows=train_rows,
                                                               train_labels=train_labels))


def given_settings(task: str = "classification", settings: Mapping[str, Any] | None = None
                   ) -> tuple[PTuningConfig, TrainConfig]:
    """Flat user settings for `task` -> the adapter's settings decided and the training settings as
    given and checked: what `ptune train` holds until it has counted its training rows, where
    `resolve_training` decides the rest once. An encoder whose default depends on the data's input
    form stays None here when the user named none (the run decides it on its rows)."""
    settings = dict(settings or {})
    task_obj = get_task(task)
    task_fields = {f.name for f in dataclasses.fields(task_obj.config_cls)}
    encoder_settings = {key[len(ENCODER_PREFIX):]: settings.pop(key) for key in list(settings)
                        if key.startswith(ENCODER_PREFIX) and key[len(ENCODER_PREFIX):] in ALL_ENCODER_FIELDS}
    encoder_settings.update({key: settings.pop(key) for key in list(settings)
                             if key in ALL_ENCODER_FIELDS and key not in task_fields | PTUNING_FIELDS | TRAIN_FIELDS})
    injection = settings.get("injection") or default_injection(task_obj.name)
    named = settings.pop("encoder", None)
    # Left for the data to decide (pairs or single texts) when nothing about the encoder was given;
    # encoder fields without a name go to the injection's default for single texts.
    waits = named is None and not encoder_settings and encoder_depends_on_inputs(task_obj.name, injection)
    encoder = None if waits else resolve_encoder(injection, named, encoder_settings)
    unknown = sorted(set(settings) - PTUNING_FIELDS - TRAIN_FIELDS - task_fields)
    if unknown:
        raise ConfigError("settings", [f"{unknown} ({flags(unknown)}) do(es) not apply to task {task_obj.name}; known settings: "
                                       f"{sorted(PTUNING_FIELDS | TRAIN_FIELDS | task_fields | ALL_ENCODER_FIELDS)}"])
    task_config = task_obj.config_cls(**{k: v for k, v in settings.items() if k in task_fields})
    ptuning = resolve_ptuning(PTuningConfig(**{k: v for k, v in settings.items() if k in PTUNING_FIELDS - {"injection"}},
                                            injection=injection, encoder=encoder, task=task_config), inputs=None)
    training = TrainConfig(**{k: v for k, v in settings.items() if k in TRAIN_FIELDS})
    if "epochs" not in settings and "min_steps" not in settings:
        training = dataclasses.replace(training, min_steps=SMALL_DATA_MIN_STEPS)  # a small set still trains
    return ptuning, training


def resolve_encoder(injection: str, name: str | EncoderConfig | dict | None, fields: dict) -> EncoderConfig | None:
    """The injection's default encoder, or the one named; the user's fields on top of it. The
    default of deep prompts (free rows, random init) keeps its init when only the name is given."""
    if isinstance(name, EncoderConfig):
        return dataclasses.replace(name, **fields) if fields else name
    if isinstance(name, dict):
        name, fields = name.get("type"), {**{k: v for k, v in name.items() if k != "type"}, **fields}
    if name is not None and name not in ENCODER_CONFIGS:
        raise ConfigError("settings", [f"encoder={name!r}: expected one of {sorted(ENCODER_CONFIGS)}"])
    default = default_encoder(injection) if injection in DEFAULT_ENCODERS else None
    if default is None:
        return None  # PTuningConfig names the unknown injection
    chosen = name or default.name
    stray = sorted(set(fields) - encoder_fields(chosen))
    if stray:
        raise ConfigError("settings", [f"encoder setting(s) {stray} ({flags(stray, 'encoder-')}) do(es) not apply "
                                       f"to encoder {chosen!r}; its settings: {sorted(encoder_fields(chosen))}"])
    base = default if chosen == default.name else ENCODER_CONFIGS[chosen]()
    return dataclasses.replace(base, **fields) if fields else base


def resolve_ptuning(ptuning: PTuningConfig, *, inputs: str | None = "text") -> PTuningConfig:
    """`ptuning` with the settings that depend on others filled in for its task (ptune.defaults): the
    injection, its encoder, the prompt length and the text length. A resolved config comes back as it
    is. The one place these are filled: `resolve`, `ptune.train`, multi-task runs and every model
    built from a config (PTuningModel, TaskAdapter) call it.

    `inputs` is the training data's input form (`text` or `pair`), which the default encoder of deep
    prompts for classification depends on; None leaves that encoder undecided until the data is read.
    A model built from a config without data (`PTuningModel(backbone, PTuningConfig())`) takes the
    default for single texts: name the encoder for pairs there."""
    if ptuning.is_resolved():
        return ptuning
    task = ptuning.task.name
    injection = ptuning.injection if ptuning.injection is not None else default_injection(task)
    encoder = ptuning.encoder
    if encoder is None and not (inputs is None and encoder_depends_on_inputs(task, injection)):
        encoder = default_encoder(injection, task, inputs or "text")
    return dataclasses.replace(
        ptuning, injection=injection, encoder=encoder,
        num_virtual_tokens=(ptuning.num_virtual_tokens if ptuning.num_virtual_tokens is not None
                            else default_prompt_length(task, injection)),
        max_length=ptuning.max_length if ptuning.max_length is not None else default_max_length(task))


def training_is_resolved(training: TrainConfig) -> bool:
    return None not in (training.lr, training.head_lr, training.head_init, training.choose_layer,
                        training.contrastive_steps)


def start_waits_for_counts(training: TrainConfig, ptuning: PTuningConfig) -> bool:
    """Whether resolving `training` for this adapter needs the training set's row and label counts
    (a start that depends on them, ptune.defaults.RECIPE_MAX_TRAIN_ROWS, and that the user left unset)."""
    if training_is_resolved(training) or training.init_from:
        return False
    ptuning = resolve_ptuning(ptuning)
    if default_start(ptuning.task.name, None, head=getattr(ptuning.task, "head", "linear")) is not None:
        return False
    return any(getattr(training, name) is None for name in START_RECIPES[ptuning.task.name])


def resolve_training(training: TrainConfig, ptuning: PTuningConfig, *, train_rows: int | None = None,
                     train_labels: int | None = None) -> TrainConfig:
    """`training` with what the user left unset filled in for the adapter's task, injection and
    encoder (ptune.defaults): the learning rates and how the adapter starts. Where the start depends
    on the size of the training set (ptune.defaults.RECIPE_MAX_TRAIN_ROWS) and `train_rows` is not
    given, the start and the head's rate stay undecided until the run has counted its rows. A
    resolved config comes back as it is."""
    if training_is_resolved(training):
        return training
    ptuning = resolve_ptuning(ptuning, inputs=None)
    # the rate of an encoder still undecided (it waits for the data's input form) waits with it
    lr = training.lr if training.lr is not None else (default_learning_rate(
        ptuning.task.name, ptuning.injection, ptuning.encoder.name) if ptuning.encoder is not None else None)
    head = getattr(ptuning.task, "head", "linear")
    # an adapter started from another (init_from) starts as that one: no recipe refits or retrains it
    start = dict(PLAIN_START) if training.init_from else default_start(
        ptuning.task.name, train_rows, train_labels=train_labels, head=head)
    if start is None:  # the recipe depends on the row count: what it does not name is decided already
        recipe = START_RECIPES[ptuning.task.name]
        start = {name: value for name, value in PLAIN_START.items() if name not in recipe}
        if any(getattr(training, name) is None and name not in start for name in PLAIN_START):
            return dataclasses.replace(training, lr=lr, **{name: value for name, value in start.items()
                                                            if getattr(training, name) is None})
    head_init = training.head_init if training.head_init is not None else start["head_init"]
    choose_layer = training.choose_layer if training.choose_layer is not None else (
        start["choose_layer"] and getattr(ptuning.task, "layer", None) is None)
    contrastive_steps = (training.contrastive_steps if training.contrastive_steps is not None
                         else start["contrastive_steps"])
    head_lr = training.head_lr if training.head_lr is not None else (PROBE_HEAD_LR if head_init == "probe" else lr)
    return dataclasses.replace(training, lr=lr, head_lr=head_lr, head_init=head_init, choose_layer=choose_layer,
                               contrastive_steps=contrastive_steps)


def flat_settings(run_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A run as `--print-config` / run_config.json writes it (nested) -> the flat settings
    `resolve` takes, plus the task name under `task`."""
    ptuning = dict(run_dict.get("ptuning") or {})
    encoder = dict(ptuning.pop("encoder", None) or {})
    task = dict(ptuning.pop("task", None) or {})
    flat: dict[str, Any] = {k: v for k, v in ptuning.items() if v is not None}
    if encoder:
        flat["encoder"] = encoder.pop("type", None)
        flat.update({ENCODER_PREFIX + k: v for k, v in encoder.items()})
    if task:
        flat["task"] = task.pop("type", "classification")
        flat.update(task)
    flat.update({k: v for k, v in (run_dict.get("training") or {}).items() if v is not None})
    return flat
