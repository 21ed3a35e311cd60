"""The training loop: plain, explicit, on accelerate. Readable top to bottom.

Works for any model that maps (input_ids, attention_mask, token_type_ids) to a task's logits and exposes
`trainable_parameters()` ({"encoder": [...], "head": [...]}), `trainable_state_dict()` and
`load_trainable_state_dict()`; PTuningModel does, and so do the baselines we compare against.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from ptune.config import MAX_AUTO_EVALUATIONS, TrainConfig
from ptune.data.batching import shard, training_batches
from ptune.engine.backbone import prefer_eager_attention
from ptune.engine.batched import MODEL_INPUTS, predict_outputs, to_device
from ptune.engine.precision import FrozenCast, frozen_linear_parameters, stored_in
from ptune.errors import ConfigError, PtuneError
from ptune.tasks import Task, get_task
from ptune.training import trackers
from ptune.training.start import describe, start_adapter, starts_anything
from ptune.training.checkpoint import (
    LoopState,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

LOG_EVERY = 10


class NonFiniteLoss(PtuneError):
    def __init__(self, loss: float, step: int | None = None, task: str = ""):
        self.loss, self.step = loss, step
        where = f"step {step}" + (f" (task {task!r})" if task else "") if step is not None else "a step"
        super().__init__(f"training went non-finite at {where}: loss {loss}; nothing from that step on was "
                         "saved (the best adapter and the last checkpoint are from before it). Lower --lr, keep "
                         "--max-grad-norm on, or try --precision fp32")


@dataclass
class FitResult:
    state: LoopState
    final_metrics: dict
    steps_total: int
    start: dict | None = None
    """What the training start did (ptune.training.start), when it did anything."""


def optimizer_groups(model, config: TrainConfig) -> list[dict]:
    """Prompt parameters: encoder lr, no weight decay. Head: head lr, decay on weights only."""
    groups = model.trainable_parameters()
    head_decay = [p for p in groups["head"] if p.ndim > 1]
    head_plain = [p for p in groups["head"] if p.ndim <= 1]
    out = [{"params": groups["encoder"], "lr": config.lr, "weight_decay": 0.0},
           {"params": head_decay, "lr": config.head_lr, "weight_decay": config.weight_decay},
           {"params": head_plain, "lr": config.head_lr, "weight_decay": 0.0}]
    return [g for g in out if g["params"]]


def task_of(model) -> Task:
    """The model's task; models without one (the baselines) are classifiers."""
    return getattr(model, "task", None) or get_task("classification")


def learning_rates_for(model, config: TrainConfig, *, train_rows: int | None = None) -> TrainConfig:
    """A ptune model's unset rates come from the one resolver; other models must state theirs."""
    from ptune.config import PTuningConfig
    from ptune.settings import resolve_training

    if isinstance(getattr(model, "config", None), PTuningConfig):
        return resolve_training(config, model.config, train_rows=train_rows, train_labels=model.num_labels)
    if config.lr is None:
        raise ConfigError("TrainConfig", ["lr=None: this model has no measured default learning rate; set lr"])
    return config if config.head_lr is not None else dataclasses.replace(config, head_lr=config.lr)


def check_settled(model, config: TrainConfig) -> None:
    """The loop fills in no setting: a run arrives with its rates and start decided (ptune.settings
    resolves a ptune model's, once, where the run is set up; other methods state their own)."""
    from ptune.config import PTuningConfig

    unset = [name for name in ("lr", "head_lr") if getattr(config, name) is None]
    if isinstance(getattr(model, "config", None), PTuningConfig):
        unset += [name for name in ("head_init", "choose_layer") if getattr(config, name) is None]
    if unset:
        raise ConfigError("TrainConfig", [f"{unset} not decided when training began: resolve the settings first "
                                          "(ptune.settings.resolve, or resolve_training(config, model.config)), "
                                          "or set them"])


def metric_name(config: TrainConfig, task: Task) -> str:
    name = config.metric or task.primary_metric
    if name not in task.metric_choices + (("macro_f1",) if task.name == "classification" else ()):
        raise ConfigError("TrainConfig", [f"metric={name!r} does not apply to {task.name}; "
                                          f"expected one of {list(task.metric_choices)}"])
    return name


def evaluate(model, features, *, config: TrainConfig, pad_token_id: int, label_names, accelerator,
             task: Task | None = None) -> dict:
    inner = accelerator.unwrap_model(model)
    task = task or task_of(inner)
    folds = hasattr(inner, "fold_prompt")
    model.eval()
    if folds:
        inner.fold_prompt()  # the encoder runs once per evaluation, not once per batch
    # The unwrapped model: DDP would sync buffers on every forward, and shards differ in batch count.
    outputs = predict_outputs(inner, features, batch_size=config.eval_batch_size, pad_token_id=pad_token_id,
                              accelerator=accelerator, collate_fn=task.collate)
    if folds:
        inner.unfold_prompt()
    model.train()
    # ptune models carry their task settings in config.task, the baselines in task_config.
    settings = getattr(inner, "task_config", None) or getattr(getattr(inner, "config", None), "task", None)
    return task.metrics(outputs, features, list(label_names), config=settings)


class TrainLog:
    """train_log.jsonl; on resume, entries after the checkpoint's step are dropped (they are redone)."""

    def __init__(self, path: Path, *, keep_until_step: int | None, enabled: bool):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if keep_until_step is not None and path.exists():
            kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= keep_until_step]
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, entry: dict) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")


@dataclass
class Member:
    """One task the loop trains: its model (any module mapping inputs to the task's logits), its
    data and settings, and what to do when its dev metric improves. A single-task run has one."""

    name: str
    model: torch.nn.Module
    train_features: list[dict]
    dev_features: list[dict]
    config: TrainConfig
    label_names: list
    task: Task
    metric: str
    on_best: Callable[[dict], None] | None = None


@contextmanager
def training_precision(model, accelerator) -> Iterator[FrozenCast]:
    """The set-up of a training run's precision, for one task or several. Under bf16 mixed
    precision the frozen Linear weights are stored in bf16 for the run, bit-identical to what
    autocast would compute but without a cast per step, and the original fp32 tensors are put back
    at the end (or when the last `config.fp32_finish` of the steps switch to fp32, through the
    yielded FrozenCast); on CPU the backbone also switches to eager attention (faster backward at
    these lengths)."""
    bf16 = accelerator.mixed_precision == "bf16"
    if bf16 and accelerator.device.type == "cpu":
        prefer_eager_attention(model)
    with stored_in(frozen_linear_parameters(model), torch.bfloat16 if bf16 else None) as bf16_weights:
        yield bf16_weights


def fit(model, *, accelerator, **kwargs) -> FitResult:
    """Trains one `model` on one task (see `_fit` for the arguments): the loop of `fit_members`
    with one member, in the run's precision (`training_precision`)."""
    with training_precision(model, accelerator) as bf16_weights:
        return _fit(model, accelerator=accelerator, bf16_weights=bf16_weights, **kwargs)


def bf16_step_count(config: TrainConfig, total_steps: int, accelerator) -> int:
    """How many optimizer steps run under bf16 autocast: all of them, less the fp32 finish."""
    if accelerator.mixed_precision != "bf16":
        return 0
    return total_steps - round(config.fp32_finish * total_steps)


class Schedule:
    """Which member trains at each step, and on which batch: a pure function of the settings,
    the step and the steps at which members stopped, so a resumed run replays it exactly.

    One member: its epochs' batches in order. Several: each step draws a member (weights
    proportional to its planned steps, temperature-scaled, or uniform), which takes the next
    batch of its own epochs; a stopped member is not drawn again."""

    def __init__(self, members: list[Member], *, seed: int, rank: int = 0, world: int = 1,
                 weights: dict[str, float] | None = None):
        self.members = {m.name: m for m in members}
        self.seed, self.rank, self.world = seed, rank, world
        self.weights = weights or {m.name: 1.0 for m in members}
        self._epochs: dict[tuple[str, int], list[list[int]]] = {}
        self.rng = random.Random(f"tasks:{seed}")
        self.drawn = {name: 0 for name in self.members}
        self.step = 0

    def epoch_batches(self, name: str, epoch: int) -> list[list[int]]:
        if (name, epoch) not in self._epochs:
            member = self.members[name]
            lengths = [len(f["input_ids"]) for f in member.train_features]
            plan = training_batches(lengths, batch_size=member.config.batch_size, seed=member.config.seed,
                                    epoch=epoch, group_by_length=member.config.group_by_length)
            self._epochs = {key: v for key, v in self._epochs.items() if key[0] != name}  # keep one epoch each
            self._epochs[(name, epoch)] = shard(plan, rank=self.rank, world_size=self.world)
        return self._epochs[(name, epoch)]

    def steps_per_epoch(self, name: str) -> int:
        steps = len(self.epoch_batches(name, 0))
        if not steps:
            member = self.members[name]
            who = f"task {name!r}" if name else "the training data"
            raise ConfigError("training", [f"{who} has {len(member.train_features)} example(s): fewer batches of "
                                           f"{member.config.batch_size} than the {self.world} processes; lower its "
                                           "batch size or launch fewer processes"])
        return steps

    def next(self, stopped: dict[str, int]) -> tuple[str, list[int]]:
        """The member and batch of step `self.step`; `stopped`: member -> step it stopped at."""
        active = [n for n in self.members if n not in stopped or stopped[n] > self.step]
        name = active[0] if len(self.members) == 1 else \
            self.rng.choices(active, weights=[self.weights[n] for n in active])[0]
        epoch, position = divmod(self.drawn[name], self.steps_per_epoch(name))
        self.drawn[name] += 1
        self.step += 1
        return name, self.epoch_batches(name, epoch)[position]

    def fast_forward(self, steps: int, stopped: dict[str, int]) -> None:
        """Replay the draws of `steps` steps (a resumed run continues the same sequence)."""
        while self.step < steps:
            self.next(stopped)


def _fit(model, *, train_features: list[dict], dev_features: list[dict], config: TrainConfig, run_dir: Path,
         pad_token_id: int, label_names, accelerator, resume: bool = False,
         on_best: Callable[[dict], None] | None = None, show_progress: bool = True,
         bf16_weights: FrozenCast | None = None) -> FitResult:
    task = task_of(model)
    check_settled(model, config)
    member = Member(name="", model=model, train_features=train_features, dev_features=dev_features, config=config,
                    label_names=label_names, task=task, metric=metric_name(config, task), on_best=on_best)
    schedule = Schedule([member], seed=config.seed, rank=accelerator.process_index, world=accelerator.num_processes)
    steps_per_epoch = schedule.steps_per_epoch("")
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch), config.min_steps)
    start = None
    if starts_anything(model, config):  # a resumed run too: the start decides the head's layer
        start = start_adapter(model, train_features, config=config, pad_token_id=pad_token_id,
                              label_names=label_names, accelerator=accelerator)
        if show_progress and accelerator.is_local_main_process:
            print(describe(start), file=sys.stderr)
    every = config.eval_every or auto_eval_every(
        total_steps, steps_per_epoch=steps_per_epoch, samples_per_step=config.batch_size * accelerator.num_processes,
        dev_examples=len(dev_features))
    result = fit_members(model, [member], schedule=schedule, total_steps=total_steps, eval_every=every, config=config,
                         run_dir=run_dir, pad_token_id=pad_token_id, accelerator=accelerator, resume=resume,
                         show_progress=show_progress, bf16_weights=bf16_weights,
                         patience=config.early_stopping_patience, stop_all_on_patience=True)
    result.start = start
    return result


def auto_eval_every(total_steps: int, *, steps_per_epoch: int, samples_per_step: int, dev_examples: int) -> int:
    """The evaluation interval of `eval_every=0`: at each epoch's end when that keeps within the
    limits, else evenly by steps, so that a run evaluates at most MAX_AUTO_EVALUATIONS times and
    scores no more dev examples than it trains on (at least once, at its last step). With 32
    training rows and 872 dev sentences that is one evaluation, not one per step."""
    afforded = (total_steps * samples_per_step) // max(dev_examples, 1)
    evaluations = max(1, min(MAX_AUTO_EVALUATIONS, afforded))
    return max(min(steps_per_epoch, total_steps), math.ceil(total_steps / evaluations))


def fit_members(container, members: list[Member], *, schedule: Schedule, total_steps: int, eval_every: int,
                config: TrainConfig, run_dir: Path, pad_token_id: int, accelerator, resume: bool = False,
                show_progress: bool = True, bf16_weights: FrozenCast | None = None, patience: int = 0,
                stop_all_on_patience: bool = False, optimizer_groups_fn=None) -> FitResult:
    """The one training loop, for one task or several. `container` holds every member's
    trainable parameters (`trainable_parameters`, `trainable_state_dict`,
    `load_trainable_state_dict`); `config` gives the run-wide settings (warm-up, clipping,
    fp32 finish); each member's own config its learning rates and batch size."""
    multi = len(members) > 1
    by_name = {m.name: m for m in members}
    world = accelerator.num_processes
    bf16_steps = bf16_step_count(config, total_steps, accelerator)
    groups = optimizer_groups_fn() if optimizer_groups_fn else optimizer_groups(container, config)
    optimizer = torch.optim.AdamW(groups)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    state = LoopState()
    if resume and has_checkpoint(run_dir):
        trainable, state = load_checkpoint(run_dir, optimizer=optimizer, scheduler=scheduler)
        container.load_trainable_state_dict(trainable)
    records = state.member_records([m.name for m in members])
    stopped = {name: r["stopped_at"] for name, r in records.items() if r.get("stopped_at") is not None}
    schedule.fast_forward(state.step, stopped)
    log = TrainLog(run_dir / "train_log.jsonl", keep_until_step=state.step if resume else None,
                   enabled=accelerator.is_main_process)
    container, optimizer = accelerator.prepare(container, optimizer)
    # accelerate wraps forward in its own autocast, which no outer context can turn off; without the
    # wrapper each step's precision is train_step's context (bf16, or fp32 for the fp32 finish).
    accelerator.unwrap_model(container, keep_fp32_wrapper=False)
    container.train()
    speaking = show_progress and accelerator.is_local_main_process
    # A bar redraws on every step: right on a terminal, a flood of lines in a log file or CI. Off a
    # terminal, one plain line per tenth of the run instead.
    progress = tqdm(total=total_steps, initial=state.step, disable=not (speaking and sys.stderr.isatty()),
                    desc="train", dynamic_ncols=True)
    plain_every = max(1, total_steps // 10) if speaking and not sys.stderr.isatty() else 0
    final: dict[str, dict] = {}
    stop = False
    while state.step < total_steps and not stop and len(stopped) < len(members):
        name, indices = schedule.next(stopped)
        member = by_name[name]
        started = time.perf_counter()
        in_bf16 = state.step < bf16_steps
        if not in_bf16 and bf16_weights is not None and bf16_weights.active:
            bf16_weights.restore()  # the fp32 finish: the backbone's own fp32 weights from here on
        autocast = accelerator.autocast() if in_bf16 else torch.autocast(accelerator.device.type, enabled=False)
        try:
            loss = train_step(container, indices, member.train_features, optimizer, scheduler, config=member.config,
                              task=member.task, pad_token_id=pad_token_id, accelerator=accelerator,
                              autocast=autocast, forward_options={"task": name} if multi else None)
        except NonFiniteLoss as err:
            raise NonFiniteLoss(err.loss, state.step + 1, name) from None
        state.train_seconds += time.perf_counter() - started
        state.step += 1
        state.samples_seen += len(indices) * world
        records[name]["steps"] = records[name].get("steps", 0) + 1
        throughput = state.samples_seen / max(state.train_seconds, 1e-9)
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.4f}", samples_s=f"{throughput:.0f}")
        label = f"{name} " if multi else ""
        if plain_every and (state.step % plain_every == 0 or state.step == total_steps):
            print(f"step {state.step}/{total_steps}  {label}loss {loss:.4f}  {throughput:.0f} samples/s", file=sys.stderr)
        if state.step % LOG_EVERY == 0 or state.step == total_steps:
            entry = {"step": state.step, "epoch": state.step / schedule.steps_per_epoch(name), "loss": loss,
                     "lr": scheduler.get_last_lr()[0], "train_samples_per_s": throughput}
            log.write({**entry, "task": name} if multi else entry)
            trackers.log(accelerator, {f"train/{label.strip() + '/' if multi else ''}loss": loss,
                                       "train/lr": scheduler.get_last_lr()[0], "train/samples_per_s": throughput},
                         step=state.step)
        if state.step % eval_every == 0 or state.step == total_steps:
            for other in members:
                # A task no step has trained yet is the untrained adapter: nothing to learn from scoring it.
                if other.name in stopped or not other.dev_features or not records[other.name].get("steps"):
                    continue
                model_of = other.model if multi else container
                metrics = evaluate(model_of, other.dev_features, config=other.config, pad_token_id=pad_token_id,
                                   label_names=other.label_names, accelerator=accelerator, task=other.task)
                final[other.name] = metrics
                headline = other.task.headline(metrics)
                out_of_patience = record_evaluation(state, records[other.name], metrics, metric=other.metric,
                                                    headline=headline, log=log, on_best=other.on_best,
                                                    patience=patience, task_name=other.name if multi else None)
                prefix = f"dev/{other.name}/" if multi else "dev/"
                trackers.log(accelerator, {f"{prefix}{k}": v for k, v in headline.items()}, step=state.step)
                if speaking:
                    best = records[other.name].get("best_step") == state.step
                    progress.write(f"step {state.step}: {other.name + ' ' if multi else ''}dev " + "  ".join(
                        f"{k} {v:.4f}" for k, v in headline.items()) + ("  (best)" if best else ""),
                        file=sys.stderr)
                if out_of_patience:
                    if stop_all_on_patience:
                        stop = True
                    else:
                        stopped[other.name] = records[other.name]["stopped_at"] = state.step
                        if speaking:
                            progress.write(f"step {state.step}: {other.name} stops ({patience} evaluations without "
                                           f"a better {other.metric})", file=sys.stderr)
            state.sync_single(records)
            if accelerator.is_main_process:
                save_checkpoint(run_dir, trainable=accelerator.unwrap_model(container).trainable_state_dict(),
                                optimizer=optimizer, scheduler=scheduler, state=state)
            accelerator.wait_for_everyone()
    progress.close()
    for member in members:  # resumed from a checkpoint taken at the very end
        if member.name not in final and not member.dev_features:
            final[member.name] = {}  # no dev set: nothing to score
        elif member.name not in final:
            final[member.name] = evaluate(member.model if multi else container, member.dev_features,
                                          config=member.config, pad_token_id=pad_token_id,
                                          label_names=member.label_names, accelerator=accelerator, task=member.task)
    state.sync_single(records)
    return FitResult(state=state, final_metrics=final[members[0].name] if not multi else final,
                     steps_total=total_steps)


def train_step(model, indices, features, optimizer, scheduler, *, config, pad_token_id, accelerator,
               autocast=None, task: Task | None = None, forward_options: dict | None = None) -> float:
    """One optimizer step; `autocast` is the precision context (default: the accelerator's);
    `forward_options` go to the model's forward (a multi-task container: which task)."""
    task = task or task_of(accelerator.unwrap_model(model))
    batch = to_device(task.collate([features[i] for i in indices], pad_token_id=pad_token_id), accelerator.device)
    with autocast if autocast is not None else accelerator.autocast():
        # (batch, labels) or (batch, seq, labels)
        logits = model(**{k: batch[k] for k in MODEL_INPUTS}, **(forward_options or {}))
        loss = task.loss(logits, batch)
    if not torch.isfinite(loss):  # before the step: the trained weights stay as the last good step left them
        raise NonFiniteLoss(float(loss.detach()))
    accelerator.backward(loss)
    if config.max_grad_norm:
        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def record_evaluation(state: LoopState, record: dict, metrics: dict, *, metric: str, headline: dict, log: TrainLog,
                      on_best, patience: int, task_name: str | None = None) -> bool:
    """Updates one member's best/patience record, saves a new best; True when its patience ran out."""
    value = metrics[metric]
    # A member no step has trained yet (a multi-task draw that skipped it) is the untrained
    # adapter: its scores are logged but never saved as a best.
    trained = record.get("steps", 0) > 0
    improved = trained and (record.get("best_metric") is None or value > record["best_metric"])
    entry = {"step": state.step, "eval": headline, "best": improved}
    log.write({**entry, "task": task_name} if task_name is not None else entry)
    record["final_dev"] = headline
    if not trained:
        return False
    if improved:
        record.update(best_metric=value, best_step=state.step, evals_without_improvement=0, best_dev=headline)
        if on_best is not None:
            on_best(metrics)
        return False
    record["evals_without_improvement"] = record.get("evals_without_improvement", 0) + 1
    return bool(patience) and record["evals_without_improvement"] >= patience
