"""The local backbone folders this user has named themselves (`--model PATH`, `model_name=`).

An adapter records the backbone it was trained on. A Hub id is safe to follow; a local path is not
(an adapter from a stranger could name `/etc` or `../../secrets`, and the loader would read there).
So an adapter's local path is followed only when the user has given that same folder to ptune
before, on this machine: training with `--model PATH` remembers PATH, and a later `ptune predict`
on the run needs no `--model`. Any other path needs `--model`, which the user types.

The list is one resolved path per line in `$PTUNE_HOME/trusted-backbones.txt` (default
`~/.cache/ptune`); appends are single small writes, so concurrent runs do not interleave.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "trusted-backbones.txt"


def store() -> Path:
    home = os.environ.get("PTUNE_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "ptune"
    return Path(home) / FILE_NAME


def remember(folder: str | Path) -> None:
    """Record a backbone folder the user named. A store that cannot be written is no error: such a
    user passes --model again when predicting."""
    path = str(Path(folder).resolve())
    if is_trusted(path):
        return
    try:
        store().parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(store(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, (path + "\n").encode())
        finally:
            os.close(descriptor)
    except OSError:
        pass


def is_trusted(folder: str | Path) -> bool:
    try:
        known = store().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return str(Path(folder).resolve()) in known
