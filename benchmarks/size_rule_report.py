"""The NER recipe against the plain start by training-set size, from the committed cells: conll-curve
at 1,000 (benchmarks/results/curves), 2,000 and 4,000 (benchmarks/run_size_rule.sh) sentences and
conll-minilm at all 14,041 (the recipe's grid, and the plain start's committed bf16 cells and, once
run, its fp32 cells beside the recipe's: benchmarks/run_plain_full_fp32.sh).

    python benchmarks/size_rule_report.py     # prints the markdown table BENCHMARKS.md quotes"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RECIPE = "ptune[injection=deep;lr=0.05;head_init=probe;choose_layer=true]"
PLAIN = "ptune[injection=deep;lr=0.05;head_init=random;choose_layer=false]"
ROWS = [  # (size, grid of the recipe, grid and method of the plain start, what the plain cells are)
    (1_000, "curves/conll2003-n1000", "curves/conll2003-n1000", "ptune[injection=deep]", "fp32"),
    (2_000, "recipe/size-rule/conll2003-n2000", "recipe/size-rule/conll2003-n2000", PLAIN, "fp32"),
    (4_000, "recipe/size-rule/conll2003-n4000", "recipe/size-rule/conll2003-n4000", PLAIN, "fp32"),
    (14_041, "recipe/conll-minilm", "recipe/conll-minilm", PLAIN, "fp32"),
    (14_041, "recipe/conll-minilm", "compare-conll-minilm", "ptune[injection=deep]", "bf16, committed before"),
]


def scores(grid: str, method: str) -> dict[int, float]:
    out = {}
    folder = RESULTS / grid / "cells"
    # names hold brackets, which glob reads as character classes: match the prefix by hand
    for path in sorted(p for p in folder.iterdir() if p.name.startswith(f"{method}__seed")) if folder.is_dir() else []:
        cell = json.loads(path.read_text())
        if "dev_f1" in cell and cell["method"] == method:
            out[cell["seed"]] = 100 * cell["dev_f1"]
    return out


def summary(values: list[float]) -> str:
    if not values:
        return "–"
    spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.1f}{spread} ({len(values)} seed{'s' if len(values) > 1 else ''})"


def main() -> None:
    print("| training sentences | recipe | plain start | plain cells | paired difference (recipe - plain), per seed |")
    print("|---|---|---|---|---|")
    for size, recipe_grid, plain_grid, plain_method, plain_kind in ROWS:
        recipe, plain = scores(recipe_grid, RECIPE), scores(plain_grid, plain_method)
        if not plain:
            continue
        paired = sorted(set(recipe) & set(plain))
        differences = " / ".join(f"{recipe[s] - plain[s]:+.1f}" for s in paired) or "–"
        print(f"| {size:,} | {summary(list(recipe.values()))} | {summary(list(plain.values()))} | {plain_kind} | "
              f"{differences} |")


if __name__ == "__main__":
    main()
