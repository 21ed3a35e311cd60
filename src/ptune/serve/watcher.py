"""Adapters placed in (or removed from) a folder while serving join (or leave) the bank.

Each subfolder holding `ptune_config.json` (an export's `ptune_export.json` with `--runtime onnx`) is
served under the subfolder's name. A folder still
being copied may fail to load; it is tried again whenever its files change, and the failure is
logged once per state of the files. Removal drops the name only: requests already holding the
adapter finish with it.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from ptune.engine.entries import TASK_NAME_CHARACTERS, BankBase
from ptune.format.files import ADAPTER_CONFIG_FILE as CONFIG_FILE
from ptune.errors import PtuneError

log = logging.getLogger("ptune.serve")


def adapter_folders(directory: Path, *, skip: set[str] = frozenset(), marker: str = CONFIG_FILE) -> dict[str, Path]:
    """{task name: folder} for each subfolder of `directory` holding an adapter (the file `marker`),
    names in `skip` left out."""
    if not directory.is_dir():
        return {}
    return {p.name: p for p in directory.iterdir()
            if p.is_dir() and (p / marker).exists() and set(p.name) <= TASK_NAME_CHARACTERS
            and not p.name.startswith(".") and p.name not in skip}


def folder_state(folder: Path) -> tuple:
    """What changes when any file of an adapter folder is written (names, sizes, times)."""
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))


class AdapterDirWatcher:
    def __init__(self, bank: BankBase, directory: str | Path, *, poll_seconds: float = 2.0,
                 fixed_names: set[str] = frozenset(), on_error: Callable[[str, str], None] | None = None):
        """`fixed_names`: tasks given on the command line, which a folder of the same name never replaces."""
        self.bank, self.directory, self.poll_seconds = bank, Path(directory), poll_seconds
        self.fixed_names, self.on_error = set(fixed_names), on_error
        self.loaded: dict[str, tuple] = {}  # name -> folder state when loaded
        self.failed: dict[str, tuple] = {}  # name -> folder state that failed to load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan(self) -> None:
        """One pass: load new or changed adapter folders, drop removed ones."""
        folders = adapter_folders(self.directory, skip=self.fixed_names,
                                  marker=getattr(self.bank, "marker", CONFIG_FILE))
        for name in set(self.loaded) - set(folders):
            self.bank.remove(name)
            del self.loaded[name]
            log.info("task %r removed (its folder is gone)", name)
        for name, folder in folders.items():
            try:
                state = folder_state(folder)
            except OSError:  # removed between listing and reading
                continue
            if self.loaded.get(name) == state or self.failed.get(name) == state:
                continue
            try:
                self.bank.add(name, folder, replace=True)
            except Exception as err:  # whatever an adapter's files hold, it is named once per state, not per poll
                err = err if isinstance(err, (PtuneError, OSError)) else f"{type(err).__name__}: {err}"
                self.failed[name] = state
                log.error("task %r not loaded from %s: %s", name, folder, err)
                if self.on_error:
                    self.on_error(name, str(err))
                continue
            self.failed.pop(name, None)
            log.info("task %r %s from %s", name, "reloaded" if name in self.loaded else "added", folder)
            self.loaded[name] = state

    def start(self) -> None:
        self.scan()
        self._thread = threading.Thread(target=self._loop, name="ptune-adapter-watcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.scan()
            except Exception as err:  # a scan that fails must not end the watching
                log.error("scanning %s failed: %s", self.directory, err)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
