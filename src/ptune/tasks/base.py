"""What every task owns: its config, head, features, collate, loss, decoding and metrics.

A task is one module with a `Task` subclass registered under its name; the model, the training
loop, evaluation and prediction ask the task and never branch on its name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ptune.errors import ConfigError
from ptune.registry import add_unique
from ptune.validation import number_problems

if TYPE_CHECKING:  # a task's model side needs torch; its data and decoding side does not
    import torch
    from torch import nn

TASKS: dict[str, "Task"] = {}
ALIASES = {"ner": "token_classification", "sequence_classification": "classification", "qa": "question_answering",
           "squad": "question_answering"}


def register_task(cls: type["Task"]) -> type["Task"]:
    from ptune.tasks.input_forms import INPUT_FORMS

    if cls.input_form not in INPUT_FORMS:
        raise ConfigError("register task", [f"{cls.name}: input_form={cls.input_form!r} is not declared; declare it in "
                                            f"ptune.tasks.input_forms (declared: {sorted(INPUT_FORMS)})"])
    owner = cls.config_cls.__dict__.get("name")
    if owner is not None and owner != cls.name and owner in TASKS:
        # A task that reuses another's settings (a subclass of ClassificationTask, say) gets a settings
        # class of its own: each config names its task, and the other task's configs keep their name.
        cls.config_cls = dataclasses.dataclass(type(f"{cls.__name__}Config", (cls.config_cls,),
                                                    {"__doc__": cls.config_cls.__doc__, "__module__": cls.__module__}))
    add_unique(TASKS, cls.name, cls(), kind="task")
    cls.config_cls.name = cls.name
    return cls


def get_task(name: str) -> "Task":
    name = ALIASES.get(name, name)
    if name not in TASKS:
        raise ConfigError("task", [f"{name!r}: expected one of {sorted(TASKS)} (or {sorted(ALIASES)})"])
    return TASKS[name]


@dataclass
class TaskConfig:
    """Fields every task head has; subclasses add theirs."""

    name: ClassVar[str] = "base"
    head_dropout: float = 0.1
    layer: int | None = None
    """The backbone layer whose states the head reads: 0 (the embeddings) to N (the last); None: the
    last. A frozen backbone's middle layers can carry more of what a task needs than its last (the
    bundled sentence embedder's layer 3-4 states tag entities far better than its last ones);
    `--choose-layer` picks it on the training rows."""

    def __post_init__(self) -> None:
        problems = number_problems(self) or self.problems()
        if problems:
            raise ConfigError(type(self).__name__, problems)

    def problems(self) -> list[str]:
        problems = []
        if not 0.0 <= self.head_dropout < 1.0:
            problems.append(f"head_dropout={self.head_dropout}: expected 0 <= dropout < 1")
        if self.layer is not None and (isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 0):
            problems.append(f"layer={self.layer!r}: expected a layer number, 0 (the embeddings) to the backbone's "
                            "last, or None for the last")
        return problems

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, **dataclasses.asdict(self)}


def task_config_from_dict(data: dict[str, Any]) -> TaskConfig:
    data = dict(data)
    task = get_task(data.pop("type", "classification"))
    known = {f.name for f in dataclasses.fields(task.config_cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(task.config_cls.__name__, [f"unknown field(s) {unknown}; known: {sorted(known)}"])
    return task.config_cls(**data)


class Task:
    name: ClassVar[str] = "base"
    config_cls: ClassVar[type[TaskConfig]] = TaskConfig
    primary_metric: ClassVar[str] = "accuracy"
    metric_choices: ClassVar[tuple[str, ...]] = ("accuracy",)
    input_form: ClassVar[str] = "text"
    """What one input is: a form declared in ptune.tasks.input_forms (`text`, `pair`, `words`, `qa`),
    which the server, the playground and the command line read."""

    # ---- the input form: decided here only ------------------------------------------------
    def input_form_of(self, examples: list) -> str:
        """The input form an adapter trained on `examples` takes (recorded in it as `inputs`)."""
        return self.input_form

    def served_input_form(self, recorded: str | None) -> str:
        """The input form of a loaded adapter, from what its folder recorded (None: nothing)."""
        return self.input_form

    # ---- data -----------------------------------------------------------------------------
    def read(self, source, *, split: str, **options) -> list:
        raise NotImplementedError

    def example(self, item, index: int = 0):
        """One input as a user gives it (a string, a pair, a dict...) -> this task's example; raises
        ValueError saying what was expected when the item has the wrong form or is empty."""
        raise NotImplementedError

    def label_set(self, examples: list):
        raise NotImplementedError

    def check_labels(self, examples: list, labels, origin: str) -> None:
        """Raise a DataError naming the first example whose label the label set lacks."""

    def adapt_config(self, config: TaskConfig, examples: list) -> TaskConfig:
        """The task config with what the training data decides filled in (QA: SQuAD 2.0 or not)."""
        return config

    def bind_tokenizer(self, config: TaskConfig, tokenizer, labels) -> TaskConfig:
        """The task config with what the tokenizer decides filled in (cloze: the label words' ids),
        before the model is built; refuses what the vocabulary cannot take."""
        return config

    def features(self, examples: list, *, tokenizer, max_length: int, labels, config: TaskConfig | None = None) -> list[dict]:
        """Model inputs per example; a task may make several per example (QA: windows of a long context)."""
        raise NotImplementedError

    def collate(self, features: list[dict], *, pad_token_id: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # ---- model ----------------------------------------------------------------------------
    def build_head(self, hidden_size: int, num_labels: int, config: TaskConfig) -> nn.Module:
        raise NotImplementedError

    def logits(self, head: nn.Module, output, config: TaskConfig) -> torch.Tensor:
        """The backbone's output (ptune.engine.prompted.BackboneOutput) -> this task's logits."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    # ---- results --------------------------------------------------------------------------
    def metrics(self, logits: list[torch.Tensor], features: list[dict], label_names, *, config: TaskConfig | None = None) -> dict:
        raise NotImplementedError

    def headline(self, metrics: dict) -> dict:
        """The few numbers logged at every evaluation and written to metrics.json."""
        return {name: metrics[name] for name in self.metric_choices}

    def format_report(self, metrics: dict, label_names) -> str:
        raise NotImplementedError

    def decode(self, logits: torch.Tensor, example, feature: dict, label_names, *, config: TaskConfig | None = None) -> dict:
        """One prediction as JSON-ready output."""
        raise NotImplementedError

    def prepare_decoding(self) -> None:
        """Load what `decode` needs ahead of the first prediction (a server calls it when an adapter
        is added, so no request waits for an import)."""

    def decode_batch(self, logits: list[torch.Tensor], examples: list, features: list[dict], label_names, *,
                     config: TaskConfig | None = None) -> list[dict]:
        """One prediction per example from the logits of its features (one each, unless the task
        splits examples into several features)."""
        return [self.decode(row, example, feature, label_names, config=config)
                for row, example, feature in zip(logits, examples, features)]
