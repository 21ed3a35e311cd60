"""Writing files without losing anything: atomic replacement, readable modes, no silent overwrite."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from ptune.errors import PtuneError

PROTECTED_NAMES = ("ptune_config.json", "inference.safetensors", "prompt_encoder.safetensors",
                   "run_config.json", "metrics.json", "train_log.jsonl")
"""Files of an adapter or run folder: an output flag never writes over them."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temp)` fills a temp file beside `path`, which then replaces `path` in one rename, so a
    crash leaves the old file or the new one. The file gets the usual mode (0666 less the umask):
    mkstemp's 0600 would make an adapter unreadable to another user, such as a serving account."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o666 & ~current_umask())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_file(path: str | Path, *, overwrite: bool, flag: str) -> Path:
    """The path a command may write its output to, or a PtuneError that says why not."""
    path = Path(path)
    if not path.parent.is_dir():
        raise PtuneError(f"{flag} {path}: the folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise PtuneError(f"{flag} {path}: that is a folder; give a file name")
    owned = (path.parent / "ptune_config.json").exists() or (path.parent / "run_config.json").exists()
    if path.name in PROTECTED_NAMES and owned:
        raise PtuneError(f"{flag} {path}: that file belongs to the adapter or run in {path.parent}; "
                         "write the output somewhere else")
    if path.exists() and not overwrite:
        raise PtuneError(f"{flag} {path}: the file exists; pass --overwrite to replace it, or choose another name")
    return path


def write_output_text(path: str | Path, text: str, *, overwrite: bool, flag: str) -> None:
    target = check_output_file(path, overwrite=overwrite, flag=flag)
    atomic_write(target, lambda temp: temp.write_text(text, encoding="utf-8"))
