"""Multi-task P-tuning: one frozen backbone, one prompt encoder and head per task, trained jointly.

Every step samples one task and trains on a batch of that task alone (tasks differ in labels,
heads, prompt lengths and injections). Sampling is proportional to each task's planned steps (its
epochs x batches per epoch), or temperature-scaled: p_t ~ steps_t ** (1 / T), which gives small
tasks more turns as T grows (T = 1 is proportional; a large T tends to uniform). Every task is
evaluated on its own dev set; its best adapter is written to `<output>/<task>/` as soon as it
improves, and a task whose metric stops improving for `patience` evaluations stops being sampled.

With `shared_encoder`, the lab's "universal prompt encoder": the encoder's network (MLP or LSTM) is
one module shared by every task, each keeping its own virtual-token embeddings and head.

    output/
      multitask_config.json   the run as given
      metrics.json            per task: best and final dev metrics, steps trained, early stop
      train_log.jsonl         loss per step (with its task) and every evaluation
      <task>/                 an adapter folder per task: `ptune eval`, `ptune serve --adapter-dir output`
"""
from __future__ import annotations

import contextlib
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ptune.config import TrainConfig, write_json
from ptune.engine.backbone import fingerprint, load_backbone
from ptune.engine.model import PTuningModel
from ptune.engine.model import save_adapter
from ptune.format.files import check_output_folder
from ptune.format.lock import output_lock
from ptune.format.runs import MULTITASK_RUN_FILE
from ptune.format.hub import write_model_card
from ptune.training import trackers
from ptune.training.start import describe, start_adapter, starts_anything
from ptune.training.loop import (
    Member,
    Schedule,
    auto_eval_every,
    fit_members,
    metric_name,
    optimizer_groups,
    training_precision,
)
from ptune.training.configs import SAMPLINGS, DataConfig, MultiTaskConfig, TaskSpec  # noqa: F401  (defined without torch; imported from here too)
from ptune.training.output import RunKind, prepare_output, undo_failed_run
from ptune.training.run import make_accelerator
from ptune.training.task_data import prepare_task

RUN_FILE = MULTITASK_RUN_FILE


def share_encoder(models: dict[str, PTuningModel]) -> int:
    """Every task's encoder uses the first task's network (all but the virtual-token embeddings).
    Returns the number of parameters no longer duplicated."""
    first, *others = [m.encoder for m in models.values()]
    saved = 0
    for encoder in others:
        for name, module in list(first.named_children()):
            if name != "embedding":
                saved += sum(p.numel() for p in getattr(encoder, name).parameters())
                setattr(encoder, name, module)
    return saved


class TaskSampler:
    """The weights of the draw of each step's task (`ptune.training.loop.Schedule` draws with them)."""

    def __init__(self, planned_steps: dict[str, int], *, sampling: str, temperature: float, seed: int = 0):
        power = {"proportional": 1.0, "temperature": 1.0 / temperature, "uniform": 0.0}[sampling]
        self.weights = {name: float(steps) ** power for name, steps in planned_steps.items()}

    def probabilities(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {n: w / total for n, w in self.weights.items()}


@dataclass
class TaskState:
    """One task's data, model and settings in a run."""

    spec: TaskSpec
    task: object
    model: PTuningModel
    labels: object
    train_features: list[dict]
    dev_features: list[dict]
    config: TrainConfig
    metric: str
    planned_steps: int
    inputs: str = "text"
    renaming: dict = field(default_factory=dict)


class MultiTaskModel(torch.nn.ModuleDict):
    """Every task's model under its name: one module for the loop (parameters counted once, a
    shared encoder's included), checkpointed as `<task>/<name>` tensors."""

    def forward(self, input_ids, attention_mask, token_type_ids=None, *, task: str):
        """One task's logits: the loop calls the container (under DDP, the wrapper syncs gradients)."""
        return self[task](input_ids, attention_mask, token_type_ids)

    def trainable_parameters(self) -> dict[str, list]:
        seen, out = set(), {"encoder": [], "head": []}
        for model in self.values():
            for group, params in model.trainable_parameters().items():
                out[group] += [p for p in params if id(p) not in seen and not seen.add(id(p))]
        return out

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{name}/{key}": value for name, model in self.items()
                for key, value in model.trainable_state_dict().items()}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, model in self.items():
            prefix = f"{name}/"
            model.load_trainable_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


def load_task(spec: TaskSpec, *, backbone, tokenizer, run: MultiTaskConfig, log) -> TaskState:
    def keep_rows(rows: list) -> list:
        if spec.train_size:
            random.Random(run.seed).shuffle(rows)
            return rows[: spec.train_size]
        return rows

    prepared = prepare_task(spec.data, spec.ptuning, backbone=backbone, tokenizer=tokenizer, seed=run.seed,
                            keep_rows=keep_rows, name=spec.name, log=log)
    spec.ptuning = prepared.ptuning
    task, model, labels = prepared.task, prepared.model, prepared.labels
    train_examples, train_features, dev_features = prepared.train_examples, prepared.train_features, prepared.dev_features
    config = run.train_config(spec, train_rows=len(train_examples), train_labels=len(labels))
    planned = max(1, math.ceil(spec.epochs * math.ceil(len(train_features) / spec.batch_size)))
    state = TaskState(spec=spec, task=task, model=model, labels=labels, train_features=train_features,
                      dev_features=dev_features, config=config, metric=metric_name(config, task), planned_steps=planned,
                      inputs=task.input_form_of(train_examples), renaming=spec.data.renaming())
    return state


MULTITASK_RUN = RunKind(name="multi-task run", settings_file=RUN_FILE, markers=(RUN_FILE,), free=("output", "report_to"))


def train_multitask(run: MultiTaskConfig, *, overwrite: bool = False, resume: bool = False, log=print,
                    show_progress: bool = True, command: str | None = None) -> dict:
    """Trains every task of `run` jointly through the one training loop (ptune.training.loop);
    returns (and writes) the per-task metrics. `resume` continues an interrupted run from its
    last checkpoint, with the same task draws and batches as an uninterrupted one."""
    output = check_output_folder(run.output)
    run = run.resolved()
    torch.manual_seed(run.seed)
    backbone, tokenizer = load_backbone(run.model)
    states = {spec.name: load_task(spec, backbone=backbone, tokenizer=tokenizer, run=run, log=log) for spec in run.tasks}
    models = {name: state.model for name, state in states.items()}
    shared = share_encoder(models) if run.shared_encoder else 0
    for name, state in states.items():  # each task's start (its prompt, head layer and head), as a single-task run's
        if starts_anything(state.model, state.config):
            record = start_adapter(state.model, state.train_features, config=state.config,
                                   pad_token_id=tokenizer.pad_token_id, label_names=state.labels.names)
            log(f"{name}: {describe(record)}")
    container = MultiTaskModel(models)
    total_steps = run.steps or sum(s.planned_steps for s in states.values())
    batch = sum(s.config.batch_size for s in states.values()) / len(states)
    eval_every = run.eval_every or auto_eval_every(total_steps, steps_per_epoch=total_steps,
                                                   samples_per_step=round(batch),
                                                   dev_examples=sum(len(s.dev_features) for s in states.values()))
    sampler = TaskSampler({n: s.planned_steps for n, s in states.items()}, sampling=run.sampling,
                          temperature=run.temperature, seed=run.seed)
    # Each step trains one task: under DDP the other tasks' parameters get no gradient that step.
    accelerator = make_accelerator(run.precision, report_to=run.report_to, output=output, find_unused_parameters=True)
    # Every check on the data and settings has run: only now is the output folder touched.
    with contextlib.ExitStack() as held:
        replaced = None
        if accelerator.is_main_process:  # one writer per folder: a second run into it is refused here
            held.enter_context(output_lock(output, command=command, say=log))
            replaced, _ = prepare_output(output, kind=MULTITASK_RUN, settings=run.to_dict(), resume=resume,
                                         overwrite=overwrite, log=log)
        accelerator.wait_for_everyone()
        trackers.start(accelerator, run_name=output.name or "ptune-multitask", settings=run.to_dict() | {"tasks": {
            t.name: t.to_dict() for t in run.tasks}})
        backbone_print = fingerprint(backbone)
        members = [Member(name=name, model=state.model, train_features=state.train_features,
                          dev_features=state.dev_features, config=state.config, label_names=state.labels.names,
                          task=state.task, metric=state.metric,
                          on_best=best_saver(state, output / name, run=run, backbone_print=backbone_print, command=command))
                   for name, state in states.items()]
        schedule = Schedule(members, seed=run.seed, weights=sampler.weights, rank=accelerator.process_index,
                            world=accelerator.num_processes)
        loop_config = TrainConfig(warmup_ratio=run.warmup_ratio, max_grad_norm=run.max_grad_norm, seed=run.seed,
                                  precision=run.precision, lr=1e-3)  # rates are the members' own
        started = time.perf_counter()
        try:
            with training_precision(container, accelerator) as bf16_weights:
                result = fit_members(container, members, schedule=schedule, total_steps=total_steps, eval_every=eval_every,
                                     config=loop_config, run_dir=output, pad_token_id=tokenizer.pad_token_id,
                                     accelerator=accelerator, resume=resume, show_progress=show_progress,
                                     bf16_weights=bf16_weights, patience=run.patience,
                                     optimizer_groups_fn=lambda: deduplicated_groups(states))
        except BaseException:
            if accelerator.is_main_process:
                undo_failed_run(output, kind=MULTITASK_RUN, replaced=replaced, resume=resume, log=log)
            raise
        trackers.finish(accelerator)
        if replaced is not None:
            shutil.rmtree(replaced)
        records = result.state.tasks
        separate = sum(s.model.parameter_counts()["trainable"] for s in states.values())
        metrics = {
            "tasks": {name: {"task": s.task.name, "metric": s.metric, "best_step": records[name].get("best_step"),
                             "best_dev": records[name].get("best_dev", {}), "final_dev": records[name].get("final_dev", {}),
                             "steps_trained": records[name].get("steps", 0), "planned_steps": s.planned_steps,
                             "stopped_at": records[name].get("stopped_at"), "train_examples": len(s.train_features),
                             "dev_examples": len(s.dev_features), "lr": s.config.lr, "adapter": str(output / name)}
                      for name, s in states.items()},
            "steps": result.state.step, "steps_total": total_steps, "sampling": run.sampling, "temperature": run.temperature,
            "sampling_probabilities": sampler.probabilities(),
            "shared_encoder": run.shared_encoder, "train_seconds": result.state.train_seconds,
            "wall_seconds": time.perf_counter() - started, "precision": accelerator.mixed_precision,
            "trainable_parameters": separate - shared, "parameters_shared_away": shared,
            "backbone_parameters": sum(p.numel() for p in backbone.parameters()),
        }
        metrics["processes"] = accelerator.num_processes
        if accelerator.is_main_process:
            for name, task_metrics in metrics["tasks"].items():
                if not task_metrics["steps_trained"]:
                    log(f"warning: task {name!r} was drawn for none of the {total_steps} steps (sampling "
                        f"{run.sampling}, probability {sampler.probabilities()[name]:.3f}); no adapter was written "
                        "for it. Raise --steps, or use --sampling uniform")
                elif not task_metrics["best_dev"]:
                    log(f"warning: task {name!r} was never evaluated; no adapter was written for it")
            write_json(output / "metrics.json", metrics)
        return metrics


def deduplicated_groups(states: dict[str, TaskState]) -> list[dict]:
    """Each task's optimizer groups at its own learning rates; a shared encoder's parameters appear
    once, in the group of the first task that holds them."""
    seen: set[int] = set()
    groups = []
    for state in states.values():
        for group in optimizer_groups(state.model, state.config):
            params = [p for p in group["params"] if id(p) not in seen]
            seen.update(id(p) for p in params)
            if params:
                groups.append({**group, "params": params})
    return groups


def best_saver(state: TaskState, folder: Path, *, run: MultiTaskConfig, backbone_print: str, command):
    """What the loop calls when `state`'s task improves: write its adapter with these scores."""
    def save(metrics: dict) -> None:
        from accelerate.state import PartialState

        if not PartialState().is_main_process:
            return
        save_task_adapter(state, folder, best_dev=state.task.headline(metrics), run=run,
                          backbone_print=backbone_print, command=command)
    return save


def save_task_adapter(state: TaskState, folder: Path, *, best_dev: dict, run: MultiTaskConfig, backbone_print: str,
                      command) -> None:
    save_adapter(state.model, folder, label_names=list(state.labels.names), backbone_name=run.model, overwrite=True,
                 backbone_fingerprint=backbone_print,
                 extra={"dev_metrics": best_dev, "train_examples": len(state.train_features),
                        "label_aliases": state.renaming, "inputs": state.inputs,
                        "training": {"data": state.spec.data.train, "dev": state.spec.data.dev, "command": command,
                                     "multitask": {"tasks": [t.name for t in run.tasks], "sampling": run.sampling,
                                                   "shared_encoder": run.shared_encoder}}})
    state.model.unfold_prompt()
    write_model_card(folder, command=command)
