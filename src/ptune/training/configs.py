"""What a training run is, without torch: where its data comes from (DataConfig), a single-task run
(RunConfig), and the tasks of a multi-task run (TaskSpec, MultiTaskConfig). The command line builds
its flags from these; ptune.training.run and ptune.training.multitask train them."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ptune.config import MAX_EPOCHS, PTuningConfig, TrainConfig, tracker_problems
from ptune.data import LoadReport
from ptune.errors import ConfigError
from ptune.format.hub_ids import canonical_model_name
from ptune.settings import flat_settings, given_settings, resolve_ptuning, resolve_training
from ptune.tasks import Task, get_task
from ptune.validation import number_problems

SAMPLINGS = ("proportional", "temperature", "uniform")


@dataclass
class DataConfig:
    """Where the examples come from and how to read them."""

    train: str
    dev: str | None = None
    """Dev data; by default the dev split of `train` when it is a folder or a Hub name."""
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    skip_bad_rows: bool = False
    """Skip malformed rows (and report how many) instead of stopping at the first one."""
    label_names: str | None = None
    """Names for the labels as the files write them, e.g. `0=negative,1=positive` (GLUE TSVs write numbers)."""

    def renaming(self) -> dict[str, str]:
        if not self.label_names:
            return {}
        pairs = [item.split("=", 1) for item in self.label_names.split(",") if item.strip()]
        bad = [item for item in pairs if len(item) != 2 or not item[0].strip() or not item[1].strip()]
        if bad:
            raise ConfigError("DataConfig", [f"label_names={self.label_names!r}: expected `written=name` pairs "
                                             "separated by commas, e.g. 0=negative,1=positive"])
        return {written.strip(): name.strip() for written, name in pairs}

    def has_dev(self) -> bool:
        """False for a single training file without `dev`: there is nothing to score or select on."""
        return self.dev is not None or not Path(self.train).is_file()

    def read(self, split: str, report: LoadReport, task: Task):
        examples = self._read(split, report, task)
        names = self.renaming()
        if names and task.name == "classification":
            examples = [dataclasses.replace(e, label=names.get(e.label, e.label)) for e in examples]
        return examples

    def _read(self, split: str, report: LoadReport, task: Task):
        source = self.train if split == "train" else (self.dev or self.train)
        if split == "dev" and not self.has_dev():
            return []  # a single training file: the run keeps its last step (ptune.training.run.train)
        return task.read(source, split=split, skip_bad_rows=self.skip_bad_rows, report=report,
                         text_column=self.text_column, pair_column=self.pair_column, label_column=self.label_column)


@dataclass
class RunConfig:
    model: str | None
    data: DataConfig
    output: str
    ptuning: PTuningConfig = field(default_factory=PTuningConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {"model": canonical_model_name(self.model), "data": dataclasses.asdict(self.data),
                "output": str(self.output), "ptuning": self.ptuning.to_dict(), "training": self.training.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """The run as its run_config.json recorded it (what `--resume` continues)."""
        return cls(model=data["model"], data=DataConfig(**data["data"]), output=data["output"],
                   ptuning=PTuningConfig.from_dict(data["ptuning"]), training=TrainConfig(**data["training"]))


@dataclass
class TaskSpec:
    """One task of a multi-task run: its data, its prompt and its share of the training."""

    name: str
    data: DataConfig
    ptuning: PTuningConfig = field(default_factory=PTuningConfig)
    epochs: float = 1.0
    """Passes over this task's training data that its share of the steps amounts to."""
    batch_size: int = 32
    train_size: int | None = None
    """Shuffle the training rows with the run's seed and keep the first N (None: all)."""
    lr: float | None = None
    """Prompt learning rate (default: the measured one for the task and injection)."""
    head_lr: float | None = None

    def __post_init__(self) -> None:
        problems = number_problems(self)
        if not problems:
            if not self.epochs > 0 or self.epochs > MAX_EPOCHS:
                problems.append(f"epochs={self.epochs}: expected more than 0 and at most {MAX_EPOCHS:,}")
            if self.batch_size < 1:
                problems.append(f"batch_size={self.batch_size}: expected >= 1")
            if self.train_size is not None and self.train_size < 1:
                problems.append(f"train_size={self.train_size}: expected >= 1 (or leave it out for all rows)")
            for name in ("lr", "head_lr"):
                if getattr(self, name) is not None and not getattr(self, name) > 0:
                    problems.append(f"{name}={getattr(self, name)}: expected > 0")
        if problems:
            raise ConfigError(f"task {self.name!r}", problems)

    def to_dict(self) -> dict:
        return {"name": self.name, "data": dataclasses.asdict(self.data), "ptuning": self.ptuning.to_dict(),
                "epochs": self.epochs, "batch_size": self.batch_size, "train_size": self.train_size,
                "lr": self.lr, "head_lr": self.head_lr}

    @classmethod
    def from_dict(cls, data: dict) -> "TaskSpec":
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)} | {"task"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"task {data.get('name')!r}", [f"unknown field(s) {unknown}; known: {sorted(known)}"])
        source = data.pop("data")
        source = {"train": source} if isinstance(source, str) else source
        ptuning = dict(data.pop("ptuning", {}) or {})
        task = data.pop("task", None)
        stray = sorted(set(ptuning) - {f.name for f in dataclasses.fields(PTuningConfig)})
        if stray:
            raise ConfigError(f"task {data.get('name')!r}", [f"unknown ptuning field(s) {stray}"])
        if isinstance(ptuning.get("encoder"), str):
            ptuning["encoder"] = {"type": ptuning["encoder"]}
        flat = flat_settings({"ptuning": ptuning})
        kind = get_task(task).name if task is not None else flat.pop("task", "classification")
        flat.pop("task", None)
        # the adapter's settings as given: an encoder that depends on the rows waits for them (load_task)
        return cls(data=DataConfig(**source), ptuning=given_settings(kind, flat)[0], **data)


@dataclass
class MultiTaskConfig:
    tasks: list[TaskSpec]
    output: str
    model: str | None = None
    """Backbone name or path; None is the bundled MiniLM."""
    sampling: str = "proportional"
    """How the next step's task is drawn: `proportional` to its planned steps, `temperature`, or `uniform`."""
    temperature: float = 2.0
    """For sampling=temperature: p ~ steps ** (1 / temperature)."""
    steps: int | None = None
    """Total optimizer steps (default: the sum of every task's planned steps)."""
    eval_every: int | None = None
    """Evaluate every trained task every N steps (default: at most ten evaluations a run, and no more dev
    examples scored than training examples seen; ptune.training.loop.auto_eval_every)."""
    patience: int = 0
    """Stop sampling a task after this many evaluations without a better dev metric; 0 = never."""
    shared_encoder: bool = False
    """One encoder network for all tasks, per-task virtual-token embeddings (needs an mlp or lstm encoder)."""
    seed: int = 0
    precision: str = "auto"
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_batch_size: int = 64
    report_to: str = "none"
    """Experiment trackers: `tensorboard` (event files in <output>/tensorboard), `wandb`, or `none`."""

    def __post_init__(self) -> None:
        problems = number_problems(self)
        if problems:
            raise ConfigError("MultiTaskConfig", problems)
        names = [t.name for t in self.tasks]
        if len(self.tasks) < 1:
            problems.append("no tasks: give at least one (two or more for multi-task training)")
        if len(set(names)) != len(names):
            problems.append(f"task names must differ, got {names}")
        if self.sampling not in SAMPLINGS:
            problems.append(f"sampling={self.sampling!r}: expected one of {SAMPLINGS}")
        if self.temperature <= 0:
            problems.append(f"temperature={self.temperature}: expected > 0 (1 is proportional)")
        if self.steps is not None and self.steps < 1:
            problems.append(f"steps={self.steps}: expected >= 1")
        if self.eval_every is not None and self.eval_every < 1:
            problems.append(f"eval_every={self.eval_every}: expected >= 1")
        if self.patience < 0:
            problems.append(f"patience={self.patience}: expected >= 0")
        if self.shared_encoder:
            problems += shared_encoder_problems(self.tasks)
        problems += tracker_problems(self.report_to)
        if problems:
            raise ConfigError("MultiTaskConfig", problems)
        for spec in self.tasks:  # the optimizer settings, checked where they are defined (TrainConfig)
            self.given_train_config(spec)

    def given_train_config(self, spec: TaskSpec) -> TrainConfig:
        """The single-task TrainConfig of what this task's spec and the run give, nothing resolved."""
        return TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, head_lr=spec.head_lr,
                           weight_decay=self.weight_decay, warmup_ratio=self.warmup_ratio,
                           max_grad_norm=self.max_grad_norm, seed=self.seed, eval_batch_size=self.eval_batch_size,
                           precision=self.precision)

    def train_config(self, spec: TaskSpec, *, train_rows: int | None = None,
                     train_labels: int | None = None) -> TrainConfig:
        """The single-task TrainConfig this task's parameters train under, resolved (once the run has
        counted the task's training rows, the start too)."""
        return resolve_training(self.given_train_config(spec), resolve_ptuning(spec.ptuning, inputs=None),
                                train_rows=train_rows, train_labels=train_labels)

    def resolved(self) -> "MultiTaskConfig":
        """Every task's settings decided (a TaskSpec built by hand may leave them to the resolver), but
        an encoder that depends on the task's rows (sentence pairs): load_task decides it on them."""
        return dataclasses.replace(self, tasks=[dataclasses.replace(
            t, ptuning=resolve_ptuning(t.ptuning, inputs=None)) for t in self.tasks])

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "tasks"}
        out["model"] = canonical_model_name(self.model)
        return {**out, "tasks": [t.to_dict() for t in self.tasks]}

    @classmethod
    def from_dict(cls, data: dict) -> "MultiTaskConfig":
        data = dict(data)
        tasks = data.pop("tasks", None)
        if isinstance(tasks, dict):  # {"sst2": {...}, "ner": {...}}
            tasks = [{"name": name, **spec} for name, spec in tasks.items()]
        if not isinstance(tasks, list):
            raise ConfigError("MultiTaskConfig", ["'tasks' must be a list of task specs or a {name: spec} object"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("MultiTaskConfig", [f"unknown field(s) {unknown}; known: {sorted(known)}"])
        return cls(tasks=[TaskSpec.from_dict(t) for t in tasks], **data)


def shared_encoder_problems(tasks: list[TaskSpec]) -> list[str]:
    tasks = [dataclasses.replace(t, ptuning=resolve_ptuning(t.ptuning)) for t in tasks]
    injections = {t.ptuning.injection for t in tasks}
    encoders = {json.dumps(t.ptuning.encoder.to_dict(), sort_keys=True) for t in tasks}
    problems = []
    if len(injections) > 1:
        problems.append(f"shared_encoder needs one injection for all tasks (its output width), got {sorted(injections)}")
    if len(encoders) > 1:
        problems.append("shared_encoder needs the same encoder settings for all tasks; they differ: "
                        + "; ".join(sorted(encoders)))
    if any(t.ptuning.encoder.name == "embedding" for t in tasks):
        problems.append("shared_encoder: the `embedding` encoder has no network to share (only per-task "
                        "embeddings); choose encoder mlp or lstm")
    return problems
