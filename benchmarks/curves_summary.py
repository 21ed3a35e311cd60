"""The learning-curve tables from the grids of benchmarks/run_curves.sh: dev score (last step) per
method and training size, mean ± std over the seeds finished so far, with the seed count.

    python benchmarks/curves_summary.py   # writes benchmarks/results/curves/summary.md
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CURVES = ROOT / "benchmarks" / "results" / "curves"
SIZES = {"sst2": (32, 128, 512, 2048), "conll": (50, 200, 1000)}
METRIC = {"sst2": "accuracy", "conll": "entity F1"}


def cells(task: str, n: int) -> dict[str, list[float]]:
    # the finished cells, so a grid still running shows what it has
    scores: dict[str, list[float]] = {}
    for path in sorted((CURVES / f"{task}-n{n}" / "cells").glob("*.json")):
        row = json.loads(path.read_text())
        if "dev_score" in row:  # a failed cell records its error instead
            scores.setdefault(row["method"], []).append(100 * row["dev_score"])
    return scores


def table(task: str) -> list[str]:
    grids = {n: cells(task, n) for n in SIZES[task]}
    methods = sorted({m for grid in grids.values() for m in grid})
    lines = ["| method | " + " | ".join(f"n = {n:,}" for n in SIZES[task]) + " |",
             "|---|" + "---|" * len(SIZES[task])]
    for method in methods:
        row = []
        for n in SIZES[task]:
            scores = grids[n].get(method, [])
            if not scores:
                row.append("—")
            elif len(scores) == 1:
                row.append(f"{scores[0]:.1f} (1 seed)")
            else:
                row.append(f"{statistics.mean(scores):.1f} ± {statistics.stdev(scores):.1f} ({len(scores)})")
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    return lines


def main() -> None:
    out = ["# Learning curves (sst2-curve, conll-curve)", "",
           "Made by `bash benchmarks/run_curves.sh` and `python benchmarks/curves_summary.py`. Dev score of the last "
           "step (no checkpoint selection), mean ± std over the seeds finished (their count in brackets), each "
           "method at its default learning rate.", ""]
    for task in SIZES:
        out += [f"## {task}: dev {METRIC[task]}", ""] + table(task) + [""]
    (CURVES / "summary.md").parent.mkdir(parents=True, exist_ok=True)
    (CURVES / "summary.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
