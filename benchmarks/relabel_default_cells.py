"""Renames the `ptune` cells of a compare folder to the settings they ran with, when ptune's
default has changed since: the cell keeps its scores, its method becomes e.g.
`ptune[contrastive_steps=0;head_init=random]`, and `relabelled` says why. A name already taken is
refused (nothing is overwritten).

    python benchmarks/relabel_default_cells.py FOLDER 'ptune[...]' 'NOTE' [FROM]

FROM (default `ptune`) is the method name the cells carry now.
"""
import json
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
    import argparse

    parser = argparse.ArgumentParser(description="Rename a compare grid's cells of an earlier default.")
    parser.add_argument("folder", type=Path, help="a grid folder (holding cells/)")
    parser.add_argument("method", help="the name the cells get, e.g. 'ptune[head_init=random]'")
    parser.add_argument("note", help="why, kept in each cell's `relabelled`")
    parser.add_argument("source", nargs="?", default="ptune", help="the name they carry now (default: ptune)")
    args = parser.parse_args()
    if not (args.folder / "cells").is_dir():
        parser.error(f"{args.folder} has no cells/ folder: give a grid folder such as benchmarks/results/fewshot/cr-n16")
    from ptune.errors import ConfigError

    try:
        done = relabel(args.folder, args.method, args.note, args.source)
    except ConfigError as err:
        parser.error(str(err).replace("\n", " "))
    for path in done:
        print(path)
