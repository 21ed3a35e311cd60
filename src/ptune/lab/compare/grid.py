"""Resumable grids: one result file per (method, seed) cell in the output folder.

Running the same command again skips finished cells and re-runs cells that failed or whose file
is unreadable (a crash mid-write, a kill). A failed cell keeps its error in its file and shows
up in every table as FAILED with that error, never as a number.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ptune.lab.compare.cells import CELLS, all_rows, cell_path, cell_status, read_cell, write_cell  # noqa: F401
from ptune.lab.compare.protocol import ProtocolConfig
from ptune.errors import PtuneError

PROTOCOL_FILE = "protocol.json"
RESULTS_FILE = "results.jsonl"
MEASUREMENT_ONLY = ("eval_repeats",)
"""Protocol fields that change how a cell is timed, never what it trains or scores: a grid may be
extended with another value (each cell records its own)."""


def protocol_differences(output: Path, protocol: ProtocolConfig) -> list[str] | None:
    """The fields in which the grid saved in `output` differs from `protocol` (None: no grid there yet)."""
    saved = output / PROTOCOL_FILE
    if not saved.exists():
        return None
    defaults = {f.name: f.default for f in dataclasses.fields(ProtocolConfig) if f.default is not dataclasses.MISSING}
    previous = {**defaults, **json.loads(saved.read_text())}  # fields added since the grid began: defaults
    current = protocol.to_dict()
    return sorted(k for k in set(previous) | set(current)
                  if previous.get(k) != current.get(k) and k not in MEASUREMENT_ONLY)


def check_protocol(output: Path, protocol: ProtocolConfig) -> None:
    """A grid folder holds one protocol: mixing budgets or data would make rows incomparable."""
    changed = protocol_differences(output, protocol)
    if changed:
        raise PtuneError(f"{output} holds a grid run under another protocol (differs in {changed}; see "
                         f"{output / PROTOCOL_FILE}). Use the same settings to extend it, or another --output for "
                         "the new protocol.")
    if changed is None:
        output.mkdir(parents=True, exist_ok=True)
        (output / PROTOCOL_FILE).write_text(json.dumps(protocol.to_dict(), indent=2, sort_keys=True) + "\n")


def run_grid(protocol: ProtocolConfig, *, methods: list[str], seeds: list[int], output: Path,
             isolate: bool = True, log: Callable[[str], None] = print,
             run_in_process: Callable[[ProtocolConfig, str, int], dict] | None = None) -> list[dict]:
    """Runs every missing/failed/corrupt cell, seed by seed; returns all rows of the grid."""
    from ptune.lab.compare.methods import parse_method

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
                log(f"done  {method} seed {seed}: {row.get('metric', 'accuracy')} {100 * row['dev_score']:.1f} "
                    f"train {row['train_samples_per_s']:.1f}/s ({time.time() - started:.0f}s)")
            rows.append(row)
    write_results(output)
    return rows


def run_subprocess(protocol: ProtocolConfig, method: str, seed: int, path: Path) -> None:
    command = [sys.executable, "-m", "ptune.lab.compare.cell", json.dumps(protocol.to_dict()), method, str(seed), str(path)]
    subprocess.run(command, check=False)


def run_here(protocol, method, seed, path, runner) -> None:
    from ptune.lab.compare.cell import failure_row, run_cell

    try:
        row = (runner or run_cell)(protocol, method, seed)
    except Exception:
        row = failure_row(method, seed)
    write_cell(path, row)


def write_results(output: Path) -> Path:
    path = output / RESULTS_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text("".join(json.dumps(row) + "\n" for row in all_rows(output)))
    os.replace(temp, path)
    return path
