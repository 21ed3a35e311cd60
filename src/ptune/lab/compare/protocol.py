"""One comparison protocol: the data, budget and schedule every method in a grid shares."""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from ptune.data import Example, LabelSet, LoadReport
from ptune.errors import ConfigError
from ptune.validation import number_problems

PRESETS = {
    # ../shared-style protocols; --data still says where the files are.
    "sst2-minilm": {"train_size": 16000, "epochs": 1.0, "batch_size": 32, "max_length": 66},
    "rte-minilm": {"train_size": None, "epochs": 5.0, "batch_size": 16, "max_length": 128},
    "conll-minilm": {"train_size": None, "epochs": 1.0, "batch_size": 32, "max_length": 128,
                     "task": "token_classification"},
    # For users with SQuAD 2.0 (--data squad_v2 or a folder with train/dev JSON); not measured here,
    # where SQuAD's training set cannot be reached.
    "squad2-minilm": {"train_size": None, "epochs": 2.0, "batch_size": 32, "max_length": 384,
                      "task": "question_answering"},
}


@dataclass
class ProtocolConfig:
    """Identical for every method and seed of a grid; a grid folder refuses a different one."""

    data: str
    """Folder with train and dev files, or a Hub dataset name."""
    model: str | None = None
    """Backbone name or path; None is the bundled MiniLM."""
    train_size: int | None = None
    """Shuffle the training rows with random.Random(seed) and keep the first N (None: all, unshuffled)."""
    epochs: float = 1.0
    batch_size: int = 32
    max_length: int = 128
    """Word pieces of text (with [CLS]/[SEP]); virtual tokens come on top."""
    eval_batch_size: int = 64
    precision: str = "auto"
    """One precision for all methods (`auto`: bf16 where the hardware multiplies it natively)."""
    group_by_length: bool = True
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    task: str = "classification"
    """`classification` or `token_classification` (CoNLL files)."""
    eval_every: int = 0
    """Dev evaluations during training every N steps; 0: once an epoch, as `ptune train`. Cells score
    the last step either way, so a protocol that selects no checkpoint (the learning curves) sets
    it to its step budget and evaluates once."""
    validation_from_train: int | None = None
    """Score on the last N rows of the training file (in file order) and train on the others; the
    dev split is not read. For choosing defaults without tuning to dev."""
    per_class: bool = False
    """`train_size` counts rows per class (the fewshot protocol's K): for each class, its rows in file
    order shuffled by random.Random(seed), the first K kept (nested across K for one seed); a class
    with fewer rows gives all of them. Classification only."""
    eval_split: str = "dev"
    """The split scored: `dev`, or `test` where the data's standard evaluation split is its test file
    and it has no dev split (CR and TREC in the few-shot literature)."""
    eval_repeats: int = 3
    """Timed passes over the dev set after training (the eval samples/s is their median); a grid
    that only needs scores (choosing a learning rate, the learning curves) sets 1. It times a cell
    and changes no score, so a grid may be extended with another count (each cell records its own)."""

    def __post_init__(self) -> None:
        problems = number_problems(self)
        if self.train_size is not None and self.train_size < 1:
            problems.append(f"train_size={self.train_size}: expected >= 1")
        if self.epochs <= 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append("epochs, batch_size and eval_batch_size must be positive")
        if self.eval_repeats < 1:
            problems.append(f"eval_repeats={self.eval_repeats}: expected >= 1")
        if self.eval_every < 0:
            problems.append(f"eval_every={self.eval_every}: expected >= 0 (0: once an epoch)")
        if self.max_length < 2:
            problems.append(f"max_length={self.max_length}: expected >= 2")
        if self.eval_split not in ("dev", "test"):
            problems.append(f"eval_split={self.eval_split!r}: expected 'dev' or 'test'")
        if self.per_class and self.task != "classification":
            problems.append(f"per_class=True draws K rows per class, which applies to classification; for "
                            f"{self.task} give train_size in rows (sentences)")
        if self.validation_from_train is not None and self.validation_from_train < 1:
            problems.append(f"validation_from_train={self.validation_from_train}: expected >= 1")
        if problems:
            raise ConfigError("ProtocolConfig", problems)

    @classmethod
    def preset(cls, name: str, **overrides) -> "ProtocolConfig":
        if name not in PRESETS:
            raise ConfigError("protocol", [f"{name!r}: known presets are {sorted(PRESETS)}"])
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def examples(self, seed: int) -> tuple[list[Example], list[Example], LabelSet]:
        """(train, dev, labels); the train rows in the protocol's order for this seed."""
        from ptune.tasks import get_task

        task = get_task(self.task)
        names = {"text_column": self.text_column, "pair_column": self.pair_column, "label_column": self.label_column}
        train = task.read(self.data, split="train", report=LoadReport(), **names)
        if self.validation_from_train:
            if self.validation_from_train >= len(train):
                raise ConfigError("ProtocolConfig", [f"validation_from_train={self.validation_from_train}: the "
                                                     f"training file has only {len(train)} rows"])
            train, dev = train[: -self.validation_from_train], train[-self.validation_from_train:]
        else:
            dev = task.read(self.data, split=self.eval_split, report=LoadReport(), **names)
        if self.train_size is not None and self.per_class:
            train = [train[i] for i in per_class_draw([e.label for e in train], self.train_size, seed)]
        elif self.train_size is not None:
            order = list(range(len(train)))
            random.Random(seed).shuffle(order)
            train = [train[i] for i in order[: self.train_size]]
        labels = task.label_set(train)
        task.check_labels(dev, labels, self.data)
        return train, dev, labels


def per_class_draw(labels: list, shots: int, seed: int) -> list[int]:
    """Row indices of `shots` rows per class (all of a smaller class), in file order: each class's
    rows shuffled by random.Random(seed), in the order the classes first appear, the first `shots`
    kept; so one seed's draws are nested across `shots`."""
    by_class: dict = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(seed)
    chosen = []
    for rows in by_class.values():
        rows = list(rows)
        rng.shuffle(rows)
        chosen += rows[:shots]
    return sorted(chosen)


def label_count(protocol: ProtocolConfig) -> int:
    """Classes in the protocol's training file (a per-class budget counts rows from it)."""
    from ptune.tasks import get_task

    names = {"text_column": protocol.text_column, "pair_column": protocol.pair_column,
             "label_column": protocol.label_column}
    return len({e.label for e in get_task(protocol.task).read(protocol.data, split="train", report=LoadReport(), **names)})
