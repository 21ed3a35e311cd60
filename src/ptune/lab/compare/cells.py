"""Grid cells on disk: one JSON file per (method, seed), written atomically, read forgivingly."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

CELLS = "cells"


def cell_path(output: Path, method: str, seed: int) -> Path:
    """One file per (method, seed); a path inside a setting (`ptune[init_from=runs/sst2]`) keeps its
    slashes out of the file name."""
    return output / CELLS / f"{method.replace('/', '%2F')}__seed{seed}.json"


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
    return normalise_row(row) if isinstance(row, dict) and "method" in row else None


def normalise_row(row: dict) -> dict:
    """Cells written before tasks had their own metric: classification, scored by accuracy."""
    if "dev_accuracy" in row and "dev_score" not in row:
        row.update(task="classification", metric="accuracy", dev_score=row["dev_accuracy"])
    return row


def cell_status(path: Path) -> str:
    row = read_cell(path)
    if row is None:
        return "corrupt" if path.exists() else "missing"
    return "failed" if "error" in row else "done"


def all_rows(output: Path) -> list[dict]:
    """Every readable cell in the folder, finished or failed."""
    rows = [read_cell(p) for p in sorted((output / CELLS).glob("*.json"))]
    return [r for r in rows if r is not None]


