"""The training loop: plain, explicit, on accelerate. Readable top to bottom.

Works for any model that maps (input_ids, attention_mask, token_type_ids) to a task's logits and exposes
`trainable_parameters()` ({"encoder": [...], "head": [...]}), `trainable_state_dict()` and
`load_trainable_state_dict()`; PTuningModel does, and so do the baselines we compare against.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from ptune.backbone import prefer_eager_attention
from ptune.precision import FrozenCast, frozen_linear_parameters, stored_in
from ptune.config import TrainConfig
from ptune.errors import ConfigError
from ptune.data.batching import shard, training_batches
from ptune.training import trackers
from ptune.training.checkpoint import LoopState, has_checkpoint, load_checkpoint, save_checkpoint
from ptune.batched import MODEL_INPUTS, predict_outputs, to_device
from ptune.tasks import Task, get_task

LOG_EVERY = 10
KILL_AT_STEP_ENV = "PTUNE_TEST_KILL_AT_STEP"  # tests: SIGKILL ourselves after this step, like kill -9


@dataclass
class FitResult:
    state: LoopState
    final_metrics: dict
    steps_total: int


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


def learning_rates_for(model, config: TrainConfig) -> TrainConfig:
    """A ptune model's unset rates come from the one resolver; other models must state theirs."""
    from ptune.config import PTuningConfig
    from ptune.settings import resolve_training

    if isinstance(getattr(model, "config", None), PTuningConfig):
        return resolve_training(config, model.config)
    if config.lr is None:
        raise ConfigError("TrainConfig", ["lr=None: this model has no measured default learning rate; set lr"])
    return config if config.head_lr is not None else dataclasses.replace(config, head_lr=config.lr)


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


def fit(model, *, accelerator, **kwargs) -> FitResult:
    """Trains `model` (see `_fit` for the arguments). Under bf16 mixed precision the frozen Linear
    weights are stored in bf16 for the run, bit-identical to what autocast would compute but
    without a cast per step, and the original fp32 tensors are put back at the end (or when the
    last `config.fp32_finish` of the steps switch to fp32); on CPU the backbone also switches to
    eager attention (faster backward at these lengths)."""
    bf16 = accelerator.mixed_precision == "bf16"
    if bf16 and accelerator.device.type == "cpu":
        prefer_eager_attention(model)
    with stored_in(frozen_linear_parameters(model), torch.bfloat16 if bf16 else None) as bf16_weights:
        return _fit(model, accelerator=accelerator, bf16_weights=bf16_weights, **kwargs)


def bf16_step_count(config: TrainConfig, total_steps: int, accelerator) -> int:
    """How many optimizer steps run under bf16 autocast: all of them, less the fp32 finish."""
    if accelerator.mixed_precision != "bf16":
        return 0
    return total_steps - round(config.fp32_finish * total_steps)


def _fit(model, *, train_features: list[dict], dev_features: list[dict], config: TrainConfig, run_dir: Path,
         pad_token_id: int, label_names, accelerator, resume: bool = False,
         on_best: Callable[[dict], None] | None = None, show_progress: bool = True,
         bf16_weights: FrozenCast | None = None) -> FitResult:
    task = task_of(model)
    config = learning_rates_for(model, config)
    metric = metric_name(config, task)
    lengths = [len(f["input_ids"]) for f in train_features]
    rank, world = accelerator.process_index, accelerator.num_processes

    def epoch_batches(epoch: int) -> list[list[int]]:
        plan = training_batches(lengths, batch_size=config.batch_size, seed=config.seed, epoch=epoch,
                                group_by_length=config.group_by_length)
        return shard(plan, rank=rank, world_size=world)

    steps_per_epoch = len(epoch_batches(0))
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    eval_every = config.eval_every or steps_per_epoch
    bf16_steps = bf16_step_count(config, total_steps, accelerator)
    optimizer = torch.optim.AdamW(optimizer_groups(model, config))
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    state = LoopState()
    if resume and has_checkpoint(run_dir):
        trainable, state = load_checkpoint(run_dir, optimizer=optimizer, scheduler=scheduler)
        model.load_trainable_state_dict(trainable)
    log = TrainLog(run_dir / "train_log.jsonl", keep_until_step=state.step if resume else None,
                   enabled=accelerator.is_main_process)
    model, optimizer = accelerator.prepare(model, optimizer)
    # accelerate wraps forward in its own autocast, which no outer context can turn off; without the
    # wrapper each step's precision is train_step's context (bf16, or fp32 for the fp32 finish).
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    model.train()
    speaking = show_progress and accelerator.is_local_main_process
    # A bar redraws on every step: right on a terminal, a flood of lines in a log file or CI. Off a
    # terminal, one plain line per tenth of the run instead.
    progress = tqdm(total=total_steps, initial=state.step, disable=not (speaking and sys.stderr.isatty()),
                    desc="train", dynamic_ncols=True)
    plain_every = max(1, total_steps // 10) if speaking and not sys.stderr.isatty() else 0
    metrics, stop = None, False
    while state.step < total_steps and not stop:
        epoch, position = divmod(state.step, steps_per_epoch)
        for indices in epoch_batches(epoch)[position:]:
            started = time.perf_counter()
            in_bf16 = state.step < bf16_steps
            if not in_bf16 and bf16_weights is not None and bf16_weights.active:
                bf16_weights.restore()  # the fp32 finish: the backbone's own fp32 weights from here on
            autocast = accelerator.autocast() if in_bf16 else torch.autocast(accelerator.device.type, enabled=False)
            loss = train_step(model, indices, train_features, optimizer, scheduler, config=config, task=task,
                              pad_token_id=pad_token_id, accelerator=accelerator, autocast=autocast)
            state.train_seconds += time.perf_counter() - started
            state.step += 1
            state.samples_seen += len(indices) * world
            throughput = state.samples_seen / max(state.train_seconds, 1e-9)
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", samples_s=f"{throughput:.0f}")
            if plain_every and (state.step % plain_every == 0 or state.step == total_steps):
                print(f"step {state.step}/{total_steps}  loss {loss:.4f}  {throughput:.0f} samples/s", file=sys.stderr)
            if state.step % LOG_EVERY == 0 or state.step == total_steps:
                log.write({"step": state.step, "epoch": state.step / steps_per_epoch, "loss": loss,
                           "lr": scheduler.get_last_lr()[0], "train_samples_per_s": throughput})
                trackers.log(accelerator, {"train/loss": loss, "train/lr": scheduler.get_last_lr()[0],
                                           "train/samples_per_s": throughput}, step=state.step)
            if state.step % eval_every == 0 or state.step == total_steps:
                metrics = evaluate(model, dev_features, config=config, pad_token_id=pad_token_id,
                                   label_names=label_names, accelerator=accelerator, task=task)
                stop = record_evaluation(state, metrics, config=config, metric=metric, headline=task.headline(metrics),
                                         log=log, on_best=on_best)
                trackers.log(accelerator, {f"dev/{k}": v for k, v in task.headline(metrics).items()}, step=state.step)
                if speaking:
                    progress.write(f"step {state.step}: dev " + "  ".join(
                        f"{k} {v:.4f}" for k, v in task.headline(metrics).items()) + ("  (best)" if state.best_step == state.step else ""),
                        file=sys.stderr)
                if accelerator.is_main_process:
                    save_checkpoint(run_dir, trainable=accelerator.unwrap_model(model).trainable_state_dict(),
                                    optimizer=optimizer, scheduler=scheduler, state=state)
                accelerator.wait_for_everyone()
            if os.environ.get(KILL_AT_STEP_ENV) == str(state.step):
                os.kill(os.getpid(), signal.SIGKILL)
            if stop or state.step >= total_steps:
                break
    progress.close()
    if metrics is None:  # resumed from a checkpoint taken at the very end
        metrics = evaluate(model, dev_features, config=config, pad_token_id=pad_token_id,
                           label_names=label_names, accelerator=accelerator, task=task)
    return FitResult(state=state, final_metrics=metrics, steps_total=total_steps)


def train_step(model, indices, features, optimizer, scheduler, *, config, pad_token_id, accelerator,
               autocast=None, task: Task | None = None) -> float:
    """One optimizer step; `autocast` is the precision context (default: the accelerator's)."""
    task = task or task_of(accelerator.unwrap_model(model))
    batch = to_device(task.collate([features[i] for i in indices], pad_token_id=pad_token_id), accelerator.device)
    with autocast if autocast is not None else accelerator.autocast():
        logits = model(**{k: batch[k] for k in MODEL_INPUTS})  # (batch, labels) or (batch, seq, labels)
        loss = task.loss(logits, batch)
    accelerator.backward(loss)
    if config.max_grad_norm:
        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def record_evaluation(state: LoopState, metrics: dict, *, config: TrainConfig, metric: str, headline: dict,
                      log: TrainLog, on_best) -> bool:
    """Updates best/patience counters, saves a new best; returns True when early stopping fires."""
    value = metrics[metric]
    improved = state.best_metric is None or value > state.best_metric
    log.write({"step": state.step, "eval": headline, "best": improved})
    if improved:
        state.best_metric, state.best_step, state.evals_without_improvement = value, state.step, 0
        if on_best is not None:
            on_best(metrics)
        return False
    state.evals_without_improvement += 1
    return bool(config.early_stopping_patience) and state.evals_without_improvement >= config.early_stopping_patience
