"""Run folders replaced with --overwrite: the old run is never lost.

`ptune train --overwrite` moves the old run into `<output>/.replaced-<time>-<pid>/` and deletes it
only once the new run has finished. A new run that is killed (SIGKILL, power loss) cannot put it
back itself, so the next command that touches the folder does (`recover_replaced_run`): the old
run returns to its place and the unfinished one is kept aside in `.interrupted-<time>/`, and the
command says so. (`ptune train --resume` instead continues the unfinished run.)
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ptune.format.lock import LOCK_NAME

REPLACED_PREFIX = ".replaced-"
INTERRUPTED_PREFIX = ".interrupted-"
RUN_FILES = ("run_config.json", "ptune_config.json", "metrics.json", "train_log.jsonl", "checkpoints",
             "inference.safetensors", "prompt_encoder.safetensors", "README.md", "tensorboard")
"""What a run folder holds; an --overwrite moves exactly these aside."""

log = logging.getLogger("ptune")


def run_entries(folder: Path) -> list[Path]:
    """What a run folder holds that is a run's: not the runs kept aside, not the folder's lock."""
    return [p for p in Path(folder).iterdir()
            if not p.name.startswith((REPLACED_PREFIX, INTERRUPTED_PREFIX)) and p.name != LOCK_NAME]


def replaced_runs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob(f"{REPLACED_PREFIX}*") if p.is_dir())


def owner_alive(replaced: Path) -> bool:
    """Whether the process that moved this run aside (its pid ends the folder's name) still runs."""
    try:
        pid = int(replaced.name.rsplit("-", 1)[1])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def recover_replaced_run(folder: str | Path) -> str | None:
    """Put back a run that an interrupted --overwrite moved aside; returns what was done, or None.
    A run still being replaced by a live process is left alone."""
    folder = Path(folder)
    pending = [p for p in replaced_runs(folder) if not owner_alive(p)]
    if not pending:
        return None
    old = pending[-1]
    aside = folder / f"{INTERRUPTED_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    aside.mkdir()
    for name in RUN_FILES:
        if (folder / name).exists():
            (folder / name).rename(aside / name)
    for item in old.iterdir():
        item.rename(folder / item.name)
    old.rmdir()
    message = (f"{folder}: an --overwrite run was interrupted before it finished; the run it was replacing is "
               f"back in place, and the unfinished run is kept in {aside}")
    log.warning(message)
    return message
