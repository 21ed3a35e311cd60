"""Resumable grids: one result file per (method, seed) cell in the output folder.

Running the same command again skips finished cells and re-runs cells that failed or whose file
is unreadable (a crash mid-write, a kill). A failed cell keeps its error in its file and shows
up in every table as FAILED with that error, never as a number.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from ptune.compare.protocol import ProtocolConfig
from ptune.errors import PtuneError

PROTOCOL_FILE = "protocol.json"
CELLS = "cells"
RESULTS_FILE = "results.jsonl"


def cell_path(output: Path, method: str, seed: int) -> Path:
    return output / CELLS / f"{method}__seed{seed}.json"


def write_cell(path: Path, row: dict) -> None:
    """Atomic: a cell file is either complete or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(row, indent=1) + "\n")
    os.replace(temp, path)


def read_cell(path: Path) -> dict | None:
    """The row, or None when the file is missing or unreadable (then the cell runs again)."""
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and "method" in row else None


def cell_status(path: Path) -> str:
    row = read_cell(path)
    if row is None:
        return "corrupt" if path.exists() else "missing"
    return "failed" if "error" in row else "done"


def check_protocol(output: Path, protocol: ProtocolConfig) -> None:
    """A grid folder holds one protocol: mixing budgets or data would make rows incomparable."""
    saved = output / PROTOCOL_FILE
    if saved.exists():
        previous = json.loads(saved.read_text())
        if previous != protocol.to_dict():
            changed = sorted(k for k in set(previous) | set(protocol.to_dict())
                             if previous.get(k) != protocol.to_dict().get(k))
            raise PtuneError(f"{output} holds a grid run under another protocol (differs in {changed}; see {saved}). "
                             "Use the same settings to extend it, or another --output for the new protocol.")
        return
    output.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(protocol.to_dict(), indent=2, sort_keys=True) + "\n")


def run_grid(protocol: ProtocolConfig, *, methods: list[str], seeds: list[int], output: Path,
             isolate: bool = True, log: Callable[[str], None] = print,
             run_in_process: Callable[[ProtocolConfig, str, int], dict] | None = None) -> list[dict]:
    """Runs every missing/failed/corrupt cell, seed by seed; returns all rows of the grid."""
    from ptune.compare.methods import parse_method

    for method in methods:
        parse_method(method)  # fail on a typo before hours of training
    check_protocol(output, protocol)
    rows = []
    for seed in seeds:
        for method in methods:
            path = cell_path(output, method, seed)
            status = cell_status(path)
            if status == "done":
                log(f"skip  {method} seed {seed} (done)")
                rows.append(read_cell(path))
                continue
            if status in ("failed", "corrupt"):
                log(f"rerun {method} seed {seed} (previous attempt {status})")
            started = time.time()
            if isolate:
                run_subprocess(protocol, method, seed, path)
            else:
                run_here(protocol, method, seed, path, run_in_process)
            row = read_cell(path) or {"method": method, "seed": seed, "error": "the cell wrote no result",
                                      "error_summary": "the cell process died without writing a result"}
            if "error" in row:
                write_cell(path, row)
                log(f"FAIL  {method} seed {seed}: {row['error_summary']} ({time.time() - started:.0f}s)")
            else:
                log(f"done  {method} seed {seed}: acc {100 * row['dev_accuracy']:.1f} "
                    f"train {row['train_samples_per_s']:.1f}/s ({time.time() - started:.0f}s)")
            rows.append(row)
    write_results(output)
    return rows


def run_subprocess(protocol: ProtocolConfig, method: str, seed: int, path: Path) -> None:
    command = [sys.executable, "-m", "ptune.compare.cell", json.dumps(protocol.to_dict()), method, str(seed), str(path)]
    subprocess.run(command, check=False)


def run_here(protocol, method, seed, path, runner) -> None:
    from ptune.compare.cell import failure_row, run_cell

    try:
        row = (runner or run_cell)(protocol, method, seed)
    except Exception:
        row = failure_row(method, seed)
    write_cell(path, row)


def all_rows(output: Path) -> list[dict]:
    """Every readable cell in the folder, finished or failed."""
    rows = [read_cell(p) for p in sorted((output / CELLS).glob("*.json"))]
    return [r for r in rows if r is not None]


def write_results(output: Path) -> Path:
    path = output / RESULTS_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text("".join(json.dumps(row) + "\n" for row in all_rows(output)))
    os.replace(temp, path)
    return path
