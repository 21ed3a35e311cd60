"""Writing files without losing anything: atomic replacement, readable modes, no silent overwrite."""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ptune.errors import PtuneError

ADAPTER_CONFIG_FILE = "ptune_config.json"
"""The file that makes a folder an adapter (ptune.format.artifacts reads it)."""
FOLDER_MARKERS = {ADAPTER_CONFIG_FILE: "adapter", "run_config.json": "run", "ptune_export.json": "export",
                  "multitask_config.json": "multi-task run"}
"""A file that makes its folder an adapter, run or export: no output flag writes anywhere inside one."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temp)` fills a temp file beside `path`, which then replaces `path` in one rename, so a
    crash leaves the old file or the new one. The file gets the usual mode (0666 less the umask):
    mkstemp's 0600 would make an adapter unreadable to another user, such as a serving account.
    A failed write (a full disk above all) is one PtuneError and leaves the old file as it was."""
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise PtuneError(f"cannot write {path} ({write_failure(err, path.parent)})") from None
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o666 & ~current_umask())
        os.replace(temp, path)
    except Exception as err:
        reason = write_failure(err, path.parent)
        if not isinstance(err, OSError) and reason != NO_SPACE:
            raise  # not the file system's doing: a bug to see in full
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise PtuneError(f"writing {path} failed ({reason}); {kept}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def write_together(writers: dict[Path, Callable[[Path], None]], *, what: str) -> None:
    """Write several files as one: each is filled under a temp name first, and only when all are
    written do they replace their targets, in the given order (a config last makes a folder
    complete). A failed write leaves every target as it was and no temp file behind."""
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(handle)
            temps[path] = Path(temp)
            write(temps[path])
            os.chmod(temp, 0o666 & ~current_umask())
    except Exception as err:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        first = next(iter(writers))
        reason = write_failure(err, first.parent)
        if not isinstance(err, OSError) and reason != NO_SPACE:
            raise
        kept = f"the previous {what} is kept" if any(p.exists() for p in writers) else "nothing was written"
        raise PtuneError(f"writing the {what} in {first.parent} failed ({reason}); {kept}") from None
    for path, temp in temps.items():
        os.replace(temp, path)


NO_SPACE = "no space left on device"


def write_failure(err: BaseException, place: Path) -> str:
    """Why a write failed, in words. torch and safetensors report a full disk in their own terms
    (`unexpected pos`, `os error 28`), so the free space is looked at too."""
    if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err):
        return NO_SPACE
    try:
        if shutil.disk_usage(place).free < 1 << 20:
            return NO_SPACE
    except OSError:
        pass
    return getattr(err, "strerror", None) or (str(err).strip().splitlines() or [type(err).__name__])[-1][:160]


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


DATA_SUFFIXES = (".tsv", ".csv", ".jsonl", ".json", ".txt")


def input_it_would_replace(path: Path, inputs) -> str | None:
    """The input of the same command that writing `path` would destroy: the same file, or a data
    file in a folder the command reads."""
    target = path.resolve()
    for given in inputs:
        if not given:
            continue
        source = Path(given)
        if source.is_file() and (target == source.resolve() or (path.exists() and os.path.samefile(path, source))):
            return str(given)
        if source.is_dir() and target.parent == source.resolve() and target.suffix in DATA_SUFFIXES:
            return str(given)
    return None


def check_output_folder(path: str | Path, *, flag: str = "--output") -> Path:
    """The folder a command may write a run or an adapter into (it may not exist yet), or a
    PtuneError that says why not: a file there or above it, or a place this process cannot write
    (no permission, a read-only or virtual file system such as /proc), or a place inside another
    adapter, run or export folder. Nothing is left behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PtuneError(f"{flag} {path}: that is a file, not a folder; choose a folder for the output")
    owner = owning_folder(path)
    if owner is not None:
        raise PtuneError(f"{flag} {path}: that is inside the {owner[1]} {owner[0]}, whose files ptune manages; "
                         "choose a folder outside it")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PtuneError(f"{flag} {path}: {existing} is a file, so no folder can be made under it; "
                         "choose another --output")
    try:  # a real probe: permission bits do not tell a read-only mount or /proc apart
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".ptune-write-check-"))
    except OSError as err:
        raise PtuneError(f"{flag} {path}: cannot create files in {existing} ({err.strerror}); "
                         "choose a folder you can write to") from None
    return path


def check_output_file(path: str | Path, *, overwrite: bool, flag: str, inputs=()) -> Path:
    """The path a command may write its output to, or a PtuneError that says why not. `inputs`:
    the files and folders the same command reads; `--overwrite` never writes over one of them."""
    path = Path(path)
    if not path.parent.is_dir():
        raise PtuneError(f"{flag} {path}: the folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise PtuneError(f"{flag} {path}: that is a folder; give a file name")
    owner = owning_folder(path)
    if owner is not None:
        raise PtuneError(f"{flag} {path}: that is inside the {owner[1]} {owner[0]}, whose files ptune manages; "
                         "write the output somewhere else")
    replaced = input_it_would_replace(path, inputs)
    if replaced is not None:
        raise PtuneError(f"{flag} {path}: that is an input of this command ({replaced}); writing there would "
                         "destroy it, even with --overwrite. Write the output somewhere else")
    if path.exists() and not overwrite:
        raise PtuneError(f"{flag} {path}: the file exists; pass --overwrite to replace it, or choose another name")
    return path


def owning_folder(path: Path) -> tuple[Path, str] | None:
    """The adapter, run or export folder that `path` lies in (at any depth), with its kind, or None."""
    for folder in Path(os.path.abspath(path)).parents:
        for marker, kind in FOLDER_MARKERS.items():
            if (folder / marker).is_file():
                return folder, kind
    return None


def write_output_text(path: str | Path, text: str, *, overwrite: bool, flag: str, inputs=()) -> None:
    from ptune.format.lock import output_lock

    with output_lock(path, folder=False, flag=flag):  # checked again under the lock: one writer wins
        target = check_output_file(path, overwrite=overwrite, flag=flag, inputs=inputs)
        atomic_write(target, lambda temp: temp.write_text(text, encoding="utf-8"))
