"""`ptune train` as a function: data in, adapter folder + metrics.json + train_log.jsonl out."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
from pathlib import Path

import torch

from ptune.config import write_json
from ptune.data import LoadReport
from ptune.data.examples import data_fingerprint
from ptune.engine.backbone import fingerprint, load_backbone
from ptune.errors import ConfigError, PtuneError
from ptune.engine.model import save_adapter
from ptune.format.artifacts import CONFIG_FILE, inference_size_bytes
from ptune.format.lock import output_lock
from ptune.format.files import check_output_folder
from ptune.format.hub import write_model_card
from ptune.runtime import resolve_device, resolve_precision
from ptune.settings import resolve_ptuning, resolve_training, start_waits_for_counts
from ptune.tasks import get_task
from ptune.training import trackers
from ptune.training.loop import fit
from ptune.training.configs import DataConfig, RunConfig  # noqa: F401  (defined without torch, for the command line)
from ptune.training.output import RunKind, prepare_output, undo_failed_run
from ptune.training.start import check_start
from ptune.training.task_data import prepare_task

RUN_CONFIG_FILE = "run_config.json"


def saved_run(output: Path) -> RunConfig:
    path = Path(output) / RUN_CONFIG_FILE
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise PtuneError(f"--resume: {output} holds no run ({RUN_CONFIG_FILE} is missing); "
                         "drop --resume to start a new run") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PtuneError(f"--resume: {path} is damaged ({err}); start a new run instead") from None


SINGLE_RUN = RunKind(name="run", settings_file=RUN_CONFIG_FILE, markers=(RUN_CONFIG_FILE, CONFIG_FILE),
                     free=("output", "training.report_to", "training.device"))


def check_same_data(output: Path, then: dict, now: dict, run: RunConfig) -> None:
    """A resumed run must see the examples it started on: another row count would change the
    step count, and edited rows would mix two data sets in one adapter. Runs saved before
    fingerprints were recorded have none and are not checked."""
    for split in ("train", "dev"):
        old, new = then.get(split), now.get(split)
        if not old or not new or old == new:
            continue
        source = run.data.train if split == "train" else (run.data.dev or run.data.train)
        change = (f"{old['examples']:,} examples then, {new['examples']:,} now" if old["examples"] != new["examples"]
                  else f"the same {new['examples']:,} examples, but their content differs")
        raise PtuneError(f"--resume: the {split} data ({source}) changed since the run in {output} started "
                         f"({change}); resume with the data it started on, or start a new run in another folder")


def make_accelerator(precision: str, *, report_to: str = "none", output: Path | None = None, device: str = "auto",
                     find_unused_parameters: bool = False):
    from accelerate import Accelerator

    from ptune.training.trackers import accelerator_options, missing_packages

    missing = missing_packages(report_to)
    if missing:
        raise ConfigError("TrainConfig", missing)
    # cpu=True is what lets accelerate run several CPU processes (torchrun / accelerate launch).
    target = resolve_device(device)
    if target.type == "cuda" and target.index is not None:
        torch.cuda.set_device(target)  # accelerate takes the current device in a single process
    from accelerate.utils import DistributedDataParallelKwargs

    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    options = {"mixed_precision": resolve_precision(precision, target), "cpu": target.type == "cpu",
               "kwargs_handlers": handlers,
               **accelerator_options(report_to, Path(output or "."))}
    try:
        return Accelerator(**options)
    except ValueError:
        # accelerate keeps one global state per process; a second run in the same process (a
        # notebook, a test) with another precision must reset it first.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
        return Accelerator(**options)


def saved_dev_metrics(output: Path) -> dict:
    """The best checkpoint's dev scores as its adapter recorded them (a resumed run found its
    best before the interruption)."""
    try:
        return json.loads((output / CONFIG_FILE).read_text()).get("dev_metrics", {})
    except (OSError, json.JSONDecodeError):
        return {}


def resolved_run(run: RunConfig, *, train_rows: int | None = None, train_labels: int | None = None) -> RunConfig:
    """`run` with every setting decided (the one resolution of a run; `ptune train` resolved all but
    what depends on the training set: its size and labels, and whether its rows are sentence pairs).
    Without `train_rows` the training data is read for what waits on it (what `--print-config` shows)."""
    ptuning = resolve_ptuning(run.ptuning, inputs=None)
    needs_counts = train_rows is None and start_waits_for_counts(run.training, ptuning)
    if needs_counts or ptuning.encoder is None:
        task = get_task(ptuning.task.name)
        rows = run.data.read("train", LoadReport(), task)[: run.training.max_train_samples or None]
        ptuning = resolve_ptuning(ptuning, inputs=task.input_form_of(rows))
        if needs_counts:
            train_rows, train_labels = len(rows), (len(task.label_set(rows)) if rows else None)
    training = resolve_training(run.training, ptuning, train_rows=train_rows, train_labels=train_labels)
    return dataclasses.replace(run, ptuning=ptuning, training=training)


def train(run: RunConfig, *, resume: bool = False, overwrite: bool = False, log=print,
          show_progress: bool = True, command: str | None = None) -> dict:
    """Trains, keeps the best adapter (by dev metric) in run.output, returns the metrics dict."""
    output = check_output_folder(run.output)
    torch.manual_seed(run.training.seed)
    backbone, tokenizer = load_backbone(run.model)
    limit = run.training.max_train_samples
    prepared = prepare_task(run.data, run.ptuning, backbone=backbone, tokenizer=tokenizer,
                            seed=run.training.seed, keep_rows=lambda rows: rows[:limit] if limit else rows,
                            dev_required=False, log=log)
    task, labels, model = prepared.task, prepared.labels, prepared.model
    train_features, dev_features, train_examples, dev_examples = (
        prepared.train_features, prepared.dev_features, prepared.train_examples, prepared.dev_examples)
    run = resolved_run(dataclasses.replace(run, ptuning=prepared.ptuning), train_rows=len(train_examples),
                       train_labels=len(labels))
    if not dev_examples:
        log(f"{run.data.train} is a single file and no --dev-data was given: training without a dev set, "
            "keeping the adapter of the last step (pass --dev-data FILE to score the run and keep its best step)")
    check_start(model, run.training)  # a bad --init-from or start option, refused before the folder is touched
    per_epoch = math.ceil(len(train_features) / run.training.batch_size)
    if run.training.min_steps > math.ceil(run.training.epochs * per_epoch):
        log(f"{len(train_features):,} training examples make {per_epoch} optimizer step(s) an epoch: training "
            f"{run.training.min_steps} steps ({run.training.min_steps / per_epoch:.1f} epochs), as small data needs "
            "(ptune.defaults.SMALL_DATA_MIN_STEPS); --epochs N trains exactly N epochs")
    accelerator = make_accelerator(run.training.precision, report_to=run.training.report_to, output=output,
                                   device=run.training.device)
    replaced, started = None, {"command": command, "data": {"train": data_fingerprint(train_examples),
                                                             "dev": data_fingerprint(dev_examples)}}
    with contextlib.ExitStack() as held:
        if accelerator.is_main_process:  # one writer per folder: a second run into it is refused here
            held.enter_context(output_lock(output, command=command, say=log))
            replaced, started = prepare_output(
                output, kind=SINGLE_RUN, settings=run.to_dict(), resume=resume, overwrite=overwrite, log=log,
                started=started, check_data=lambda then, now: check_same_data(output, then, now, run))
        # A resumed run's model card keeps the command that started it.
        command = started.get("command") or command
        accelerator.wait_for_everyone()
        backbone_print = fingerprint(backbone)
        trackers.start(accelerator, run_name=output.name or "ptune", settings=run.to_dict())
        best: dict = {}

        def save_best(metrics: dict) -> None:
            best.clear()
            best.update(task.headline(metrics) if metrics else {})
            if accelerator.is_main_process:
                save_adapter(accelerator.unwrap_model(model), output, label_names=list(labels.names),
                             backbone_name=run.model, overwrite=True, backbone_fingerprint=backbone_print,
                             extra={"dev_metrics": task.headline(metrics) if metrics else {},
                                    "selection": "best dev step" if metrics else "last step (no dev set)",
                                    "train_examples": len(train_features),
                                    "label_aliases": run.data.renaming(), "inputs": task.input_form_of(train_examples),
                                    "training": {"data": run.data.train, "dev": run.data.dev, "command": command}})
                accelerator.unwrap_model(model).unfold_prompt()

        try:
            result = fit(model, train_features=train_features, dev_features=dev_features, config=run.training,
                         run_dir=output, pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                         accelerator=accelerator, resume=resume, on_best=save_best, show_progress=show_progress)
        except BaseException:
            if accelerator.is_main_process:
                undo_failed_run(output, kind=SINGLE_RUN, replaced=replaced, resume=resume, log=log)
            raise
        if not dev_features:  # no dev set: the last step is the adapter
            save_best({})
        trackers.finish(accelerator)
        if replaced is not None:
            shutil.rmtree(replaced)
        counts = accelerator.unwrap_model(model).parameter_counts()
        state = result.state
        metrics = {
            "task": task.name,
            # The headline is the best checkpoint, the one saved and served; the last step is beside it.
            "best_step": state.best_step, "best_dev": best or saved_dev_metrics(output),
            "metric": run.training.metric or task.primary_metric,
            "final_dev": result.final_metrics, "steps": state.step, "steps_total": result.steps_total,
            "train_examples": len(train_features), "dev_examples": len(dev_features), "skipped_rows": prepared.skipped_rows,
            "train_seconds": state.train_seconds, "train_samples_per_s": state.samples_seen / max(state.train_seconds, 1e-9),
            "parameters": counts, "trainable_percent": 100 * counts["trainable"] / counts["total"],
            "inference_bytes": inference_size_bytes(output) if (output / CONFIG_FILE).exists() else None,
            "label_names": list(labels.names), "precision": accelerator.mixed_precision,
            "processes": accelerator.num_processes,
            "selection": "best dev step" if dev_features else "last step (no dev set)",
            "start": result.start,
        }
        metrics["is_main_process"] = accelerator.is_main_process
        if accelerator.is_main_process:
            write_json(output / "metrics.json", {k: v for k, v in metrics.items() if k != "is_main_process"})
            if (output / CONFIG_FILE).exists():
                write_model_card(output, command=command)
        return metrics
