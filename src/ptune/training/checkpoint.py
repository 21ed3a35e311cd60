"""Resumable training state: trainable weights, optimizer, scheduler, RNG and loop counters.

Written to `<run>/checkpoints/last` by writing a sibling temp folder and renaming it, so a kill at
any moment leaves either the previous complete checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ptune.errors import PtuneError
from ptune.format.files import NO_SPACE, write_failure


@dataclass
class LoopState:
    step: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    train_seconds: float = 0.0
    samples_seen: int = 0
    tasks: dict = field(default_factory=dict)
    """Per task of the run: best_metric, best_step, best_dev, final_dev, evals_without_improvement,
    steps, stopped_at. A single-task run has one, named "" (mirrored in the fields above)."""

    def member_records(self, names: list[str]) -> dict[str, dict]:
        """The records of these tasks; a single-task checkpoint of an earlier release kept its
        record in the top-level fields only."""
        if names == [""] and "" not in self.tasks and self.step:
            self.tasks[""] = {"best_metric": self.best_metric, "best_step": self.best_step,
                              "evals_without_improvement": self.evals_without_improvement, "steps": self.step}
        for name in names:
            self.tasks.setdefault(name, {}).setdefault("steps", 0)
        return self.tasks

    def sync_single(self, records: dict[str, dict]) -> None:
        if list(records) == [""]:
            record = records[""]
            self.best_metric, self.best_step = record.get("best_metric"), record.get("best_step")
            self.evals_without_improvement = record.get("evals_without_improvement", 0)


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last"


def save_checkpoint(run_dir: Path, *, trainable: dict, optimizer, scheduler, state: LoopState) -> None:
    final = checkpoint_dir(run_dir)
    temp = final.with_name("last.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        temp.mkdir(parents=True)
        # clone: a shared encoder's tensors appear under several tasks, and safetensors refuses shared memory
        save_file({k: v.detach().cpu().clone().contiguous() for k, v in trainable.items()}, temp / "trainable.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   temp / "optimizer.pt")
        (temp / "state.json").write_text(json.dumps(asdict(state)))
    except Exception as err:  # torch and safetensors report a full disk as their own error types
        shutil.rmtree(temp, ignore_errors=True)
        reason = write_failure(err, temp.parent)
        if not isinstance(err, OSError) and reason != NO_SPACE:
            raise
        kept = (f"the checkpoint before it is kept in {final}: free space, then continue with --resume"
                if (final / "state.json").exists() else "no earlier checkpoint exists")
        raise PtuneError(f"writing the checkpoint of step {state.step} in {temp.parent} failed ({reason}); "
                         f"{kept}") from None
    old = final.with_name("last.old")
    if final.exists():
        final.rename(old)
    temp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(run_dir: Path) -> bool:
    final = checkpoint_dir(run_dir)
    # A kill between the two renames leaves only last.old: it is complete, so use it.
    old = final.with_name("last.old")
    if not final.exists() and old.exists():
        old.rename(final)
    return (final / "state.json").exists()


def load_checkpoint(run_dir: Path, *, optimizer, scheduler) -> tuple[dict, LoopState]:
    folder = checkpoint_dir(run_dir)
    try:
        trainable = load_file(folder / "trainable.safetensors")
        # weights_only: a checkpoint is data; loading it must not run code from the file.
        extra = torch.load(folder / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        state = LoopState(**json.loads((folder / "state.json").read_text()))
    except Exception as err:  # safetensors, pickle, JSON and key errors all mean one thing here
        first_line = (str(err).strip().splitlines() or [""])[0][:120]
        raise PtuneError(f"--resume: the checkpoint in {folder} is damaged ({type(err).__name__}: {first_line}); "
                         "start a new run with --overwrite, or in another folder") from None
    torch.set_rng_state(extra["torch_rng"])
    if extra.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["cuda_rng"])
    return trainable, state
