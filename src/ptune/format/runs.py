"""Run folders replaced with --overwrite: the old run is never lost.

`ptune train --overwrite` and `ptune multitask --overwrite` move the old run's own entries (never a
file the user put beside them) into `<output>/.replaced-<time>-<pid>/` and delete them only once the
new run has finished; a new run that fails puts them back itself (`restore_replaced`). A new run that is killed (SIGKILL, power loss) cannot put it
back itself, so the next command that touches the folder does (`recover_replaced_run`): the old
run returns to its place and the unfinished one is kept aside in `.interrupted-<time>/`, and the
command says so. (`ptune train --resume` instead continues the unfinished run.)
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from ptune.errors import PtuneError
from ptune.format.lock import LOCK_NAME

REPLACED_PREFIX = ".replaced-"
INTERRUPTED_PREFIX = ".interrupted-"
RUN_FILES = ("run_config.json", "ptune_config.json", "metrics.json", "train_log.jsonl", "checkpoints",
             "inference.safetensors", "prompt_encoder.safetensors", "README.md", "tensorboard")
"""What a single-task run folder holds."""
MULTITASK_RUN_FILE = "multitask_config.json"
MULTITASK_FILES = (MULTITASK_RUN_FILE, "metrics.json", "train_log.jsonl", "checkpoints", "tensorboard")
"""What a multi-task run folder holds besides one adapter folder per task (named after the task)."""

log = logging.getLogger("ptune")


def run_entries(folder: Path) -> list[Path]:
    """What a run folder holds that is a run's: not the runs kept aside, not the folder's lock."""
    return [p for p in Path(folder).iterdir()
            if not p.name.startswith((REPLACED_PREFIX, INTERRUPTED_PREFIX)) and p.name != LOCK_NAME]


def task_names(config: Path) -> set[str]:
    """The task names a multi-task run's config lists (their adapter folders sit beside it)."""
    try:
        tasks = json.loads(config.read_text(encoding="utf-8")).get("tasks", [])
        return {t["name"] for t in tasks if isinstance(t, dict) and isinstance(t.get("name"), str)}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def owned_entries(folder: Path) -> list[Path]:
    """The entries of `folder` that belong to the ptune run in it, single-task or multi-task: what an
    --overwrite moves aside and a recovery sets aside. A file the user put beside them is not one."""
    folder = Path(folder)
    names = set(RUN_FILES)
    if (folder / MULTITASK_RUN_FILE).exists():
        names |= set(MULTITASK_FILES) | task_names(folder / MULTITASK_RUN_FILE)
    return [p for p in run_entries(folder) if p.name in names]


def move_run_aside(folder: Path) -> Path:
    """--overwrite: the run in `folder` into `folder/.replaced-<time>-<pid>/`, entry by entry (the
    folder's lock stays where it is). Returns that folder, for `restore_replaced` or deletion."""
    replaced = Path(folder) / f"{REPLACED_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    replaced.mkdir()
    for entry in owned_entries(folder):
        entry.rename(replaced / entry.name)
    return replaced


def restore_replaced(folder: Path, replaced: Path) -> None:
    """The new run failed: its entries go, and the run --overwrite moved aside comes back."""
    for entry in owned_entries(folder):
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for item in replaced.iterdir():
        item.rename(Path(folder) / item.name)
    replaced.rmdir()


def flatten(data: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: for naming the settings that differ."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def saved_settings_or_refuse(output: Path, saved: Path, now: dict, *, free=(), skip=()) -> dict:
    """--resume, single- or multi-task: the settings recorded in `saved` must equal `now` (JSON
    values), except the `free` ones (where output and trackers go may change) and the `skip` keys
    (records, not settings); else one refusal naming each difference. Returns the saved record."""
    try:
        previous = json.loads(saved.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise PtuneError(f"--resume: {saved} is missing or damaged ({err}); start a new run instead") from None
    then = flatten({k: v for k, v in previous.items() if k not in skip})
    current = flatten(json.loads(json.dumps(now)))
    differing = sorted(k for k in set(then) | set(current) if k not in free and then.get(k) != current.get(k))
    if differing:
        details = "; ".join(f"{k}: run has {then.get(k)!r}, now {current.get(k)!r}" for k in differing[:8])
        raise PtuneError(f"--resume: the settings differ from the run in {output} ({details}); resume with the same "
                         "flags, or start a new run in another folder")
    return previous


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
    for entry in owned_entries(folder):
        entry.rename(aside / entry.name)
    for item in old.iterdir():
        item.rename(folder / item.name)
    old.rmdir()
    message = (f"{folder}: an --overwrite run was interrupted before it finished; the run it was replacing is "
               f"back in place, and the unfinished run is kept in {aside}")
    log.warning(message)
    return message
