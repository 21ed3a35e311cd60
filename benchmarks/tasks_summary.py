"""The tables of BENCHMARKS.md's task and injection sections, printed from the committed cells.

    python benchmarks/tasks_summary.py > benchmarks/results/tasks-summary.md
"""
from __future__ import annotations

import statistics
from pathlib import Path

from ptune.lab.compare.grid import all_rows

RESULTS = Path(__file__).resolve().parent / "results"


def rows(grid: str) -> list[dict]:
    folder = RESULTS / grid
    return [r for r in all_rows(folder) if "error" not in r] if folder.exists() else []


def score(runs: list[dict], key: str = "dev_score") -> str:
    values = [100 * r[key] for r in runs]
    if not values:
        return "not run"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def by_method(grid: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows(grid):
        out.setdefault(row["method"], []).append(row)
    return out


def tuning() -> None:
    print("## Choosing defaults on held-out training rows (seed 0; dev never read)\n")
    print("| grid | method | held-out score | trainable |\n|---|---|---|---|")
    for grid in ("tune/conll-deep", "tune/conll-shallow", "tune/sst2-deep", "tune/rte-deep"):
        for method, runs in sorted(by_method(grid).items()):
            print(f"| {grid.split('/')[1]} | `{method}` | {score(runs)} ({runs[0]['metric']}) | "
                  f"{runs[0]['trainable_parameters']:,} ({runs[0]['trainable_percent']:.2f}%) |")
    print()


def grid_table(grid: str, methods: list[str], title: str) -> None:
    found = by_method(grid)
    print(f"## {title}\n")
    print("| method | dev score (mean ± std) | seeds | trainable | % | train samples/s (median) | eval samples/s (median) | lr |")
    print("|---|---|---|---|---|---|---|---|")
    for method in methods:
        runs = found.get(method, [])
        if not runs:
            print(f"| `{method}` | not run | | | | | | |")
            continue
        median = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
        print(f"| `{method}` | {score(runs)} ({runs[0]['metric']}) | {','.join(str(r['seed']) for r in sorted(runs, key=lambda r: r['seed']))} "
              f"| {runs[0]['trainable_parameters']:,} | {runs[0]['trainable_percent']:.3g}% | {median('train_samples_per_s'):.1f} "
              f"| {median('eval_samples_per_s'):.1f} | {runs[0]['learning_rates']['lr']:g} |")
    print()


def per_type(grid: str, methods: list[str]) -> None:
    found = by_method(grid)
    types = ("PER", "ORG", "LOC", "MISC")
    print("Entity F1 per type (mean over seeds):\n")
    print("| method | " + " | ".join(types) + " |\n|---|" + "---|" * len(types))
    for method in methods:
        runs = found.get(method, [])
        if runs and all("dev_per_type" in r for r in runs):
            cells = [f"{100 * statistics.mean(r['dev_per_type'][t]['f1'] for r in runs):.1f}" for t in types]
            print(f"| `{method}` | " + " | ".join(cells) + " |")
    print()


def recheck() -> None:
    old = by_method("compare-sst2-minilm").get("ptune", [])
    new = by_method("recheck-sst2-minilm").get("ptune[injection=input]", [])
    print("## The reshaped core against the rows measured before it (sst2-minilm, ptune input-level)\n")
    print("| code | per seed (0, 1, 2) | mean ± std |\n|---|---|---|")
    for label, runs in (("before (compare-sst2-minilm, `ptune`)", old), ("after (recheck-sst2-minilm)", new)):
        per_seed = " ".join(f"{100 * r['dev_score']:.1f}" for r in sorted(runs, key=lambda r: r["seed"]))
        print(f"| {label} | {per_seed or 'not run'} | {score(runs)} |")
    print()


if __name__ == "__main__":
    tuning()
    grid_table("compare-conll-minilm", ["ptune[injection=deep]", "ptune[injection=input]", "peft-lora", "full-ft",
                                        "linear-probe"], "conll-minilm (seeds 0, 1, 2)")
    per_type("compare-conll-minilm", ["ptune[injection=deep]", "ptune[injection=input]", "peft-lora", "full-ft",
                                      "linear-probe"])
    grid_table("compare-sst2-minilm", ["ptune[injection=deep]", "ptune", "peft-lora", "peft-prefix", "full-ft",
                                       "linear-probe"], "sst2-minilm: the deep-prompt row beside the existing rows")
    grid_table("compare-rte-minilm", ["ptune[injection=deep]", "ptune", "peft-lora", "peft-prefix", "bitfit", "full-ft",
                                      "linear-probe"], "rte-minilm: the deep-prompt row beside the existing rows")
    recheck()
