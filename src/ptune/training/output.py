"""The output guard of every training run, single- or multi-task: a folder is reused only when the
user says how (--resume continues the same run, --overwrite replaces a run of ours); a run an earlier
--overwrite left half-done is first undone; a run that stopped before its first checkpoint holds no
result and is reused; nothing that is not ours is ever deleted."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ptune.config import write_json
from ptune.errors import PtuneError
from ptune.format.runs import (
    move_run_aside,
    recover_replaced_run,
    restore_replaced,
    run_entries,
    saved_settings_or_refuse,
)
from ptune.training.checkpoint import has_checkpoint

STARTED_KEY = "started"
"""The settings file's record of how the run began: the command and the data's fingerprints."""
UNSAVED = ("train_log.jsonl", "tensorboard", "checkpoints")
"""What a run writes beside its settings before its first checkpoint."""


@dataclass(frozen=True)
class RunKind:
    """What the guard needs to know about one kind of run."""

    name: str
    """How messages call it: `run`, `multi-task run`."""
    settings_file: str
    """Its settings, written when it starts: what a resumption must match."""
    markers: tuple[str, ...]
    """Files that make a folder a run of this kind (only such a folder is replaced by --overwrite)."""
    free: tuple[str, ...]
    """Settings a resumption may change: where the output and the trackers go."""


def prepare_output(output: Path, *, kind: RunKind, settings: dict, resume: bool, overwrite: bool, log=print,
                   started: dict | None = None, check_data=None) -> tuple[Path | None, dict]:
    """Never lose a user's work. Returns the folder holding the replaced run (restore it with
    `ptune.format.runs.restore_replaced` if the new run fails) or None, and how the run started (a
    resumed run keeps its own). `check_data(then, now)` refuses a resumption on other data."""
    started = started or {}
    if resume:
        then = check_resumable(output, kind=kind, settings=settings)
        if check_data is not None:
            check_data(then.get("data", {}), started.get("data", {}))
        return None, then
    if output.is_dir():
        recovered = recover_replaced_run(output)
        if recovered:
            log(recovered)
        if never_checkpointed(output, kind):
            log(f"{output}: reusing the folder of a {kind.name} that stopped before its first checkpoint")
            discard_unsaved_run(output, kind)
    replaced = None
    if output.exists() and run_entries(output):
        if not overwrite:
            raise PtuneError(f"{output} is not empty; pass --overwrite to replace the {kind.name} in it, "
                             "--resume to continue it, or choose another --output")
        if not any((output / marker).exists() for marker in kind.markers):
            raise PtuneError(f"{output} is not empty and is not a ptune {kind.name} folder; refusing to delete it "
                             "even with --overwrite. Choose an empty or new folder.")
        replaced = move_run_aside(output)
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / kind.settings_file, {**settings, STARTED_KEY: started} if started else settings)
    return replaced, started


def undo_failed_run(output: Path, *, kind: RunKind, replaced: Path | None, resume: bool, log=print) -> None:
    """A run that failed leaves the folder as it was found: the run --overwrite replaced is put back;
    a new run that stopped before its first checkpoint is removed (nothing to resume from)."""
    if replaced is not None:
        restore_replaced(output, replaced)
        log(f"the new run failed; the {kind.name} that --overwrite replaced is back in {output}")
    elif not resume and output.is_dir() and never_checkpointed(output, kind):
        discard_unsaved_run(output, kind)


def check_resumable(output: Path, *, kind: RunKind, settings: dict) -> dict:
    """Refuses a resume the saved run cannot continue (no checkpoint, other settings); returns how
    the saved run started."""
    if not has_checkpoint(output):
        hint = ("the run stopped before its first checkpoint: run the same command without --resume (the folder "
                "is reused)") if output.is_dir() and never_checkpointed(output, kind) else \
            "drop --resume to start a new run"
        raise PtuneError(f"--resume: {output} has no checkpoint to resume from; {hint}")
    previous = saved_settings_or_refuse(output, output / kind.settings_file, settings, skip=(STARTED_KEY,),
                                        free=kind.free)
    return previous.get(STARTED_KEY) or {}


def never_checkpointed(output: Path, kind: RunKind) -> bool:
    """A folder whose run stopped before its first checkpoint: its settings (and maybe a log) but no
    checkpoint and no adapter; nothing in it is a result."""
    present = {p.name for p in run_entries(output)}
    return kind.settings_file in present and present <= {kind.settings_file, *UNSAVED} and not has_checkpoint(output)


def discard_unsaved_run(output: Path, kind: RunKind) -> None:
    """A run that stopped before its first checkpoint: its settings and log hold no result, so they
    go (a later `--resume` would have nothing to continue)."""
    for name in (kind.settings_file, *UNSAVED):
        target = output / name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
