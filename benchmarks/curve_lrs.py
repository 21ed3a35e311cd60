"""Small-data learning rates for the learning curves, chosen on held-out training rows, never on dev.

The curve protocols (../shared/BENCHMARK.md) give each method its own learning rate, chosen on
training rows outside every subset. The full-data defaults were chosen with 16,000 sentences and
1,000 steps; with 100 steps they can leave a method where it started (at n = 128 PEFT P-tuning,
LoRA and BitFit all scored the majority class at their defaults). So, per method:

    choose  train on n = 128 rows drawn from the training file less its last 1,000 rows, with the
            curve's budget (100 steps, batch 16, last step scored), at the default rate x {0.3, 1,
            3, 10} (lr and head_lr together), seeds 0 and 1; score on those last 1,000 rows.
            -> benchmarks/results/curves/lr-choice/ (a resumable compare grid) and
            benchmarks/results/curves/sst2-rates.json (the curve report marks the chosen rows)
    apply   run every method at its chosen rate on the curve's sizes (seeds 0-4, dev split),
            beside the default-rate rows, in the same size grids.

    python benchmarks/curve_lrs.py choose
    python benchmarks/curve_lrs.py table           # the table from the cells finished so far
    python benchmarks/curve_lrs.py apply --sizes 32,128
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ptune.lab.compare.curve import rates_file, without_rates  # noqa: E402
CURVES = ROOT / "benchmarks" / "results" / "curves"
CHOICE = CURVES / "lr-choice"
DATA = "../shared/data/sst2"
PTUNE = str(ROOT / ".venv" / "bin" / "ptune")
DEFAULTS = {"ptune[injection=deep]": 3e-2, "ptune[injection=input]": 5e-3, "peft-ptuning": 5e-3,
            "peft-lora": 5e-4, "bitfit": 1e-3, "full-ft": 5e-5, "linear-probe": 5e-3}
FACTORS = (0.3, 1, 3, 10)
CHOICE_SIZE, HELD_OUT = 128, 1000


def with_lr(method: str, lr: float) -> str:
    setting = f"lr={lr:.3g};head_lr={lr:.3g}"
    return f"{method[:-1]};{setting}]" if method.endswith("]") else f"{method}[{setting}]"


def compare(*extra: str) -> None:
    env = {**os.environ, "PTUNE_THREADS": "2"}
    subprocess.run([PTUNE, "compare", "--data", DATA, "--batch-size", "16", "--max-length", "66", "--no-plots", *extra],
                   cwd=ROOT, env=env, check=False)


def choose() -> dict:
    candidates = [m if factor == 1 else with_lr(m, lr * factor) for m, lr in DEFAULTS.items() for factor in FACTORS]
    compare("--train-sizes", str(CHOICE_SIZE), "--validation-from-train", str(HELD_OUT), "--seeds", "0,1",
            "--eval-repeats", "1",
            "--methods", ",".join(candidates), "--output", str(CHOICE))
    return summarize_choice(budget_check())


def summarize_choice(budget: str = "") -> dict:
    """The table and chosen.json from the cells finished so far (a rate is chosen once both seeds
    of every candidate of a method are in)."""
    rows = [json.loads(p.read_text()) for p in sorted((CHOICE / f"sst2-n{CHOICE_SIZE}" / "cells").glob("*.json"))]
    rows = [r for r in rows if "dev_score" in r]
    scores: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        scores.setdefault(without_rates(row["method"]), {}).setdefault(row["learning_rates"]["lr"], []).append(
            100 * row["dev_score"])
    chosen, lines = {}, ["| method | " + " | ".join(f"lr x {f:g}" for f in FACTORS) + " | chosen |",
                         "|---|" + "---|" * (len(FACTORS) + 1)]
    for method, default in DEFAULTS.items():
        by_lr = scores.get(method, {})
        cells = []
        for factor in FACTORS:
            lr = float(f"{default * factor:.3g}")
            found = next((v for k, v in by_lr.items() if abs(k - lr) <= 1e-9 + 1e-6 * lr), None)
            cells.append("—" if not found else f"{lr:g}: {statistics.mean(found):.1f}" +
                         ("" if len(found) == 2 else f" ({len(found)} seed)"))
        complete = [k for k, v in by_lr.items() if len(v) == 2]
        if len(complete) == len(FACTORS):
            best = max(complete, key=lambda k: statistics.mean(by_lr[k]))
            chosen[method] = best
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {chosen.get(method, '—')} |")
    table = "\n".join(["# Small-data learning rates, chosen on held-out training rows", "",
                       f"n = {CHOICE_SIZE} training rows from the training file less its last {HELD_OUT:,}; the "
                       f"curve's budget (100 steps, batch 16, last step scored); held-out accuracy on those "
                       f"{HELD_OUT:,} rows, % (mean of seeds 0 and 1). lr and head_lr move together.", "",
                       *lines, "", "Command: `python benchmarks/curve_lrs.py choose`", ""])
    table += budget
    (CHOICE / "table.md").write_text(table)
    # the curve report reads it: each method's rows at other rates are then shown, never picked
    rates_file(CURVES, "sst2").write_text(json.dumps(chosen, indent=1) + "\n")
    print(table)
    return chosen


def budget_check(run: bool = True) -> str:
    """`ptune train`'s full-data budget (one epoch of batch 32: 4 steps for 128 rows) against the
    curve's 100 steps, on the same held-out rows and subsets (a subset depends on the seed only)."""
    folder = CHOICE / "one-epoch"
    methods = ["ptune[injection=deep]", "ptune[injection=input]", "linear-probe"]
    if run:
            compare("--train-size", str(CHOICE_SIZE), "--epochs", "1", "--batch-size", "32", "--eval-every", "4",
                "--validation-from-train", str(HELD_OUT), "--seeds", "0,1", "--eval-repeats", "1",
                "--methods", ",".join(methods), "--output", str(folder))
    rows = [json.loads(p.read_text()) for p in sorted((folder / "cells").glob("*.json"))]
    curve = [json.loads(p.read_text()) for p in sorted((CHOICE / f"sst2-n{CHOICE_SIZE}" / "cells").glob("*.json"))]
    lines = ["", f"The training budget at n = {CHOICE_SIZE}, default rates, same held-out rows (mean of seeds 0, 1):", "",
             "| method | 1 epoch of batch 32 (4 steps, `ptune train`'s budget before min_steps) | 100 steps of batch 16 (the curve's) |",
             "|---|---|---|"]
    for method in methods:
        short = [100 * r["dev_score"] for r in rows if r.get("method") == method and "dev_score" in r]
        long = [100 * r["dev_score"] for r in curve if r.get("method") == method and "dev_score" in r]
        cells = [f"{statistics.mean(v):.1f}" + ("" if len(v) == 2 else f" ({len(v)} seed)") if v else "—"
                 for v in (short, long)]
        lines.append(f"| {method} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def apply(sizes: str) -> None:
    chosen = summarize_choice(budget_check(run=False))  # from the held-out cells, rewriting sst2-rates.json
    missing = sorted(set(DEFAULTS) - set(chosen))
    if missing:
        sys.exit(f"no rate chosen yet for {', '.join(missing)}: run `python benchmarks/curve_lrs.py choose` first")
    tuned = [with_lr(m, lr) for m, lr in chosen.items() if abs(lr - DEFAULTS[m]) > 1e-12]
    if not tuned:
        print("every chosen rate is the default: the default-rate rows are the tuned ones")
        return
    compare("--train-sizes", sizes, "--seeds", "0,1,2,3,4", "--methods", ",".join(tuned), "--output", str(CURVES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("choose", "table", "apply"),
                        help="choose: run the held-out grid and choose; table: the table from the cells so far; "
                             "apply: the curve at the chosen rates")
    parser.add_argument("--sizes", default="32,128,512,2048")
    args = parser.parse_args()
    if args.part == "choose":
        choose()
    elif args.part == "table":
        summarize_choice(budget_check(run=False))
    else:
        apply(args.sizes)


if __name__ == "__main__":
    sys.exit(main())
