"""One task's set-up before it trains, the same for `ptune train` and every task of `ptune multitask`:
read the splits, keep the training rows the run asks for, check the labels, bind the task's
settings to the data and the tokenizer, build the model, featurise. Every check here runs before
an output folder is touched.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ptune.config import PTuningConfig
from ptune.data import LoadReport
from ptune.defaults import encoder_depends_on_inputs
from ptune.engine.model import PTuningModel
from ptune.errors import DataError, PtuneError
from ptune.settings import resolve_ptuning
from ptune.tasks import get_task
from ptune.training.configs import DataConfig
from ptune.training.lengths import check_max_length, truncation_note


@dataclass
class TaskData:
    """A task ready to train: its settings bound to the data, its model, its rows and features."""

    task: object
    ptuning: PTuningConfig
    labels: object
    model: PTuningModel
    train_examples: list
    dev_examples: list
    train_features: list[dict]
    dev_features: list[dict]
    skipped_rows: int
    """Malformed rows the readers skipped (and reported)."""


def prepare_task(data: DataConfig, ptuning: PTuningConfig, *, backbone, tokenizer, seed: int,
                 keep_rows: Callable[[list], list] = lambda rows: rows, dev_required: bool = True,
                 name: str | None = None, log=print) -> TaskData:
    """`ptuning` as given: resolved here (ptune.settings.resolve_ptuning) for the training rows' input
    form, which the default encoder may depend on (sentence pairs); `keep_rows` picks the training rows the run
    trains on (the first N, a seeded sample); `dev_required=False` lets a single file train without a
    dev set (the caller says so). `name` prefixes messages with the task's name (multi-task runs)."""
    who = f"task {name!r}: " if name else ""
    task = get_task(ptuning.task.name)
    report = LoadReport()
    train_examples = data.read("train", report, task)
    dev_examples = data.read("dev", report, task)
    if report.skipped:
        log(f"{who}skipped {len(report.skipped)} malformed row(s); first: {report.skipped[0]}")
    train_examples = keep_rows(train_examples)
    if not train_examples:
        raise DataError(f"{who}the training data ({data.train}) has no examples; give a file with at least one row")
    labels = task.label_set(train_examples)
    if len(labels) < 2:
        raise PtuneError(f"{who}the training data has {len(labels)} distinct label(s) {list(labels.names)}; "
                         "need 2 or more")
    if not dev_examples and (dev_required or data.has_dev()):
        raise DataError(f"{who}the dev data ({data.dev or data.train}) has no examples; "
                        "give a dev file with a header and at least one row")
    if dev_examples:
        task.check_labels(dev_examples, labels, data.dev or data.train)
    inputs = task.input_form_of(train_examples)
    given, ptuning = ptuning, resolve_ptuning(ptuning, inputs=inputs)
    if given.encoder is None and inputs == "pair" and encoder_depends_on_inputs(task.name, ptuning.injection):
        log(f"{who}the training rows are sentence pairs: deep prompts made by the {ptuning.encoder.name} encoder "
            "(ptune.defaults.PAIR_ENCODERS; --encoder embedding keeps free rows)")
    settings = task.bind_tokenizer(task.adapt_config(ptuning.task, train_examples), tokenizer, labels)
    ptuning = dataclasses.replace(ptuning, task=settings)
    model = PTuningModel(backbone, ptuning, num_labels=len(labels), seed=seed)
    check_max_length(model, ptuning.max_length)
    length = model.max_text_length()
    train_features = task.features(train_examples, tokenizer=tokenizer, max_length=length, labels=labels, config=settings)
    note = truncation_note(train_features, length, task_name=task.name)
    if note:
        log(f"{who}{note}")
    dev_features = task.features(dev_examples, tokenizer=tokenizer, max_length=length, labels=labels,
                                 config=settings) if dev_examples else []
    return TaskData(task=task, ptuning=ptuning, labels=labels, model=model, train_examples=train_examples,
                    dev_examples=dev_examples, train_features=train_features, dev_features=dev_features,
                    skipped_rows=len(report.skipped))


__all__ = ["TaskData", "prepare_task"]
