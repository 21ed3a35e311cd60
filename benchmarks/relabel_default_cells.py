"""Renames the `ptune` cells of a compare folder to the settings they ran with, when ptune's
default has changed since: the cell keeps its scores, its method becomes e.g.
`ptune[contrastive_steps=0;head_init=random]`, and `relabelled` says why. A name already taken is
refused (nothing is overwritten).

    python benchmarks/relabel_default_cells.py FOLDER 'ptune[...]' 'NOTE' [FROM]

FROM (default `ptune`) is the method name the cells carry now.
"""
import json
import sys
from pathlib import Path

from ptune.lab.compare.methods import parse_method


def relabel(folder: Path, method: str, note: str, source: str = "ptune") -> list[Path]:
    spec = parse_method(method)
    done = []
    for cell in sorted((folder / "cells").glob("*__seed*.json")):
        row = json.loads(cell.read_text())
        if row["method"] != source:
            continue
        target = cell.with_name(f"{method}__seed{row['seed']}.json")
        if target.exists():
            raise SystemExit(f"{target} exists: not overwritten")
        earlier = row.get("relabelled")
        row.update(method=method, settings=spec.settings, relabelled=f"{earlier} / {note}" if earlier else note)
        target.write_text(json.dumps(row, indent=1) + "\n")
        cell.unlink()
        done.append(target)
    return done


if __name__ == "__main__":
    folder, method, note, *source = sys.argv[1:]
    for path in relabel(Path(folder), method, note, *source):
        print(path)
