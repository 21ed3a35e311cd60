"""One writer per output: a lock on every folder or file a command writes.

Two `ptune train --output SAME` started together would each write half of the folder. Every command
that writes a run, an adapter, an export, a comparison or a predictions file first takes the
output's lock: an advisory `flock` on a small file that names its holder (pid, command, start time).
A second writer is refused with the holder's name. The kernel drops the lock when its process dies,
however it dies, so a lock left by a killed process is simply taken over (and said); the lock file
of a clean exit is removed.

A folder's lock file lives inside it (`.ptune.lock`); a file's beside it (`.NAME.ptune.lock`).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from pathlib import Path

from ptune.errors import PtuneError

LOCK_NAME = ".ptune.lock"
"""A folder's lock file: every emptiness check of an output folder ignores it."""

log = logging.getLogger("ptune")


def lock_path(target: Path, *, folder: bool) -> Path:
    target = Path(target)
    return target / LOCK_NAME if folder else target.parent / f".{target.name}.ptune.lock"


def holder_text(record: dict) -> str:
    command = record.get("command") or "ptune"
    since = record.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    return f"process {record.get('pid', '?')} ({command!r}, since {when})"


def read_record(handle) -> dict:
    try:
        handle.seek(0)
        record = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


@contextlib.contextmanager
def output_lock(target: str | Path, *, folder: bool = True, flag: str = "--output", command: str | None = None,
                say=None):
    """Hold the lock of `target` (a folder, or a file when `folder=False`) for the block, or raise a
    PtuneError naming the process that holds it. A folder is created first (its lock lives inside
    it) and removed again if the block left it empty. `say` gets the line that reports a lock taken
    over from a process that died holding it (default: the ptune logger)."""
    target = Path(target)
    say = say or log.warning
    path = lock_path(target, folder=folder)
    created = folder and not target.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # the file can be removed between open and flock by a holder that just finished
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = read_record(handle)
            handle.close()
            raise PtuneError(f"{flag} {target} is being written by another ptune {holder_text(holder)}; wait for "
                             "it to finish, or choose another output") from None
        if same_file(handle, path):
            break
        handle.close()
    else:
        raise PtuneError(f"{flag} {target}: could not take its lock {path}; try again")
    left = read_record(handle)
    if left.get("pid") not in (None, os.getpid()):
        say(f"{target}: taking over the lock left by {holder_text(left)}, which stopped without releasing it")
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "command": command or " ".join(["ptune", *sys.argv[1:2]]),
                             "since": time.time()}))
    handle.flush()
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if same_file(handle, path):
                path.unlink()
        handle.close()
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()  # only if empty: a command refused before writing leaves nothing behind


def same_file(handle, path: Path) -> bool:
    try:
        mine, there = os.fstat(handle.fileno()), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
