"""Small-data learning rates for the learning curves, chosen on held-out training rows, never on dev.

The curve protocols (../shared/BENCHMARK.md) give each method its own learning rate, chosen on
training rows outside every subset. The full-data defaults were chosen with 16,000 sentences and
1,000 steps; with 100 steps they can leave a method where it started (at n = 128 PEFT P-tuning,
LoRA and BitFit all scored the majority class at their defaults). So, per method and curve:

    choose  train on n rows (SST-2: 128, CoNLL: 200) drawn from the training file less its last
            1,000 rows, with the curve's budget (100 steps, batch 16, last step scored), at the
            default rate x {0.3, 1, 3, 10}, lr and head_lr together, seeds 0 and 1; score on those
            last 1,000 rows. Where a method scores best at an edge of that grid, the grid grows past
            it (x 30, then x 100 above; x 0.1, then x 0.03 below) until the best rate is inside it:
            a rate chosen at the edge of what was tried is not a choice.
            -> benchmarks/results/curves/<choice folder>/ (a resumable compare grid) and
            benchmarks/results/curves/<data>-rates.json (the curve report marks the chosen rows)
    apply   run every method at its chosen rate on the curve's sizes (seeds 0-4, dev split), in
            the same size grids; --only-chosen runs every method once, at its chosen rate (the
            default-rate rows of the methods whose rate moved are then not run).

    python benchmarks/curve_lrs.py choose [--curve conll-curve]
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ptune.defaults import default_learning_rate  # noqa: E402
from ptune.lab.compare.curve import CURVE_METHODS, CURVES, rates_file, without_rates  # noqa: E402
from ptune.lab.compare.methods import METHODS, parse_method  # noqa: E402
CURVES_DIR = ROOT / "benchmarks" / "results" / "curves"
PTUNE = str(ROOT / ".venv" / "bin" / "ptune")
HELD_OUT = 1000
SEEDS = (0, 1)
BEYOND_THE_TOP, BEYOND_THE_BOTTOM = (30, 100), (0.1, 0.03)
"""Factors tried, in turn, while a method scores best at the top (bottom) edge of its grid."""
CLOSED_FORM = ("logistic-probe",)
"""Fitted with no learning rate: nothing to choose, run as they are."""


@dataclass(frozen=True)
class CurveChoice:
    curve: str
    data: str
    """The data folder; its name names the size grids and the rates file."""
    choice_size: int
    choice_folder: str
    factors: tuple[float, ...]

    @property
    def name(self) -> str:
        return Path(self.data).name

    @property
    def task(self) -> str:
        return CURVES[self.curve].task

    @property
    def folder(self) -> Path:
        return CURVES_DIR / self.choice_folder

    def defaults(self) -> dict[str, float]:
        """Each curve method's default rate for this task (ptune's from ptune.defaults)."""
        rates = {}
        for method in CURVE_METHODS:
            spec = parse_method(method)
            if spec.method.name in CLOSED_FORM:
                continue
            injection = spec.settings.get("injection", "deep")
            rates[method] = METHODS[spec.method.name].lr or default_learning_rate(self.task, injection)
        return rates


CHOICES = {
    "sst2-curve": CurveChoice("sst2-curve", "../shared/data/sst2", 128, "lr-choice", (0.3, 1, 3, 10)),
    "conll-curve": CurveChoice("conll-curve", "../shared/data/conll2003", 200, "lr-choice-conll2003", (0.3, 1, 3, 10)),
}


def with_lr(method: str, lr: float) -> str:
    setting = f"lr={lr:.3g};head_lr={lr:.3g}"
    return f"{method[:-1]};{setting}]" if method.endswith("]") else f"{method}[{setting}]"


def compare(choice: CurveChoice, *extra: str) -> None:
    curve = CURVES[choice.curve]
    env = {**os.environ, "PTUNE_THREADS": "2"}
    subprocess.run([PTUNE, "compare", "--data", choice.data, "--batch-size", str(curve.batch_size), "--max-length",
                    str(curve.max_length), "--task", curve.task, "--no-plots", *extra], cwd=ROOT, env=env, check=False)


def factors_needed(scores: dict[float, list[float]], base: tuple[float, ...]) -> tuple[list[float], float | None]:
    """The factors a method must be scored at, and its chosen factor (None until all of them have
    every seed). `scores`: held-out scores per factor. The grid grows past an edge while the edge
    scores best, up to the factors of BEYOND_THE_TOP / BEYOND_THE_BOTTOM."""
    factors, above, below = sorted(base), list(BEYOND_THE_TOP), list(BEYOND_THE_BOTTOM)
    while True:
        if any(len(scores.get(f, ())) < len(SEEDS) for f in factors):
            return factors, None
        best = max(factors, key=lambda f: statistics.mean(scores[f]))
        if best == factors[-1] and above:
            factors.append(above.pop(0))
        elif best == factors[0] and below:
            factors.insert(0, below.pop(0))
        else:
            return factors, best


def with_factor(method: str, default: float, factor: float) -> str:
    return method if factor == 1 else with_lr(method, default * factor)


def scores_by_factor(choice: CurveChoice) -> dict[str, dict[float, list[float]]]:
    """Held-out scores, %, per method and factor of its default rate, from the finished cells."""
    defaults = choice.defaults()
    found: dict[str, dict[float, list[float]]] = {m: {} for m in defaults}
    for row in choice_cells(choice):
        method = without_rates(row["method"])
        if "dev_score" not in row or method not in defaults or row.get("seed") not in SEEDS:
            continue
        factor = float(f"{row['learning_rates']['lr'] / defaults[method]:.3g}")
        found[method].setdefault(factor, []).append(100 * row["dev_score"])
    return found


def choose(choice: CurveChoice) -> dict:
    attempted: set[str] = set()
    while True:  # one more round for each method still best at an edge
        scores, defaults = scores_by_factor(choice), choice.defaults()
        candidates = [with_factor(m, defaults[m], f) for m in defaults
                      for f in factors_needed(scores[m], choice.factors)[0]]
        pending = [m for m in candidates if m not in attempted]
        if not pending:
            break  # every needed cell is in, or failed once (the table shows which)
        attempted.update(candidates)
        compare(choice, "--train-sizes", str(choice.choice_size), "--validation-from-train", str(HELD_OUT),
                "--seeds", ",".join(map(str, SEEDS)), "--eval-repeats", "1", "--methods", ",".join(candidates),
                "--output", str(choice.folder))
    return summarize_choice(choice, budget_check(choice) if choice.curve == "sst2-curve" else "")


def choice_cells(choice: CurveChoice) -> list[dict]:
    folder = choice.folder / f"{choice.name}-n{choice.choice_size}" / "cells"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def summarize_choice(choice: CurveChoice, budget: str = "") -> dict:
    """The table and the rates file from the cells finished so far (a method's rate is chosen once
    every factor it needs, edges grown included, has both seeds)."""
    scores, defaults = scores_by_factor(choice), choice.defaults()
    needed = {m: factors_needed(scores[m], choice.factors) for m in defaults}
    columns = sorted({f for factors, _ in needed.values() for f in factors})
    metric = "entity F1" if choice.task == "token_classification" else "accuracy"
    chosen, lines = {}, ["| method | " + " | ".join(f"lr x {f:g}" for f in columns) + " | chosen |",
                         "|---|" + "---|" * (len(columns) + 1)]
    for method, default in defaults.items():
        factors, best = needed[method]
        cells = []
        for factor in columns:
            lr, found = float(f"{default * factor:.3g}"), scores[method].get(factor)
            if not found:
                cells.append("—" if factor in factors else "")
                continue
            cells.append(f"{lr:g}: {statistics.mean(found):.1f}" + ("" if len(found) == len(SEEDS) else
                                                                      f" ({len(found)} seed)"))
        if best is not None:
            chosen[method] = float(f"{default * best:.3g}")
            at_edge = best in (factors[0], factors[-1])  # only once the grid can grow no further
            cells = [f"**{c}**" if f == best else c for f, c in zip(columns, cells)]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {chosen.get(method, '—')}"
                     + (" (edge of the grown grid)" if best is not None and at_edge else "") + " |")
    command = "python benchmarks/curve_lrs.py choose" + ("" if choice.curve == "sst2-curve" else f" --curve {choice.curve}")
    table = "\n".join([f"# Small-data learning rates for {choice.curve}, chosen on held-out training rows", "",
                       f"n = {choice.choice_size} training rows from the training file less its last {HELD_OUT:,}; "
                       f"the curve's budget (100 steps, batch 16, last step scored); held-out {metric} on those "
                       f"{HELD_OUT:,} rows, % (mean of seeds 0 and 1). lr and head_lr move together. The default "
                       f"rate x {{{', '.join(f'{f:g}' for f in choice.factors)}}} first; where a method scored best "
                       "at an edge, the grid grew past it (x 30, x 100; x 0.1, x 0.03) until the best was inside "
                       "(blank: not needed). Chosen in bold.", "",
                       *lines, "", f"Command: `{command}`", ""])
    table += budget
    choice.folder.mkdir(parents=True, exist_ok=True)
    (choice.folder / "table.md").write_text(table)
    # the curve report reads it: each method's rows at other rates are then shown, never picked.
    # Only a whole choice is written: a method missing from it would have its rows never picked.
    if len(chosen) == len(defaults):
        rates_file(CURVES_DIR, choice.name).write_text(json.dumps(chosen, indent=1) + "\n")
    print(table)
    return chosen


def budget_check(choice: CurveChoice, run: bool = True) -> str:
    """`ptune train`'s full-data budget (one epoch of batch 32: 4 steps for 128 rows) against the
    curve's 100 steps, on the same held-out rows and subsets (a subset depends on the seed only)."""
    folder = choice.folder / "one-epoch"
    methods = ["ptune[injection=deep]", "ptune[injection=input]", "linear-probe"]
    if run:
        subprocess.run([PTUNE, "compare", "--data", choice.data, "--max-length", "66", "--no-plots",
                        "--train-size", str(choice.choice_size), "--epochs", "1", "--batch-size", "32",
                        "--eval-every", "4", "--validation-from-train", str(HELD_OUT), "--seeds", "0,1",
                        "--eval-repeats", "1", "--methods", ",".join(methods), "--output", str(folder)],
                       cwd=ROOT, env={**os.environ, "PTUNE_THREADS": "2"}, check=False)
    rows = [json.loads(p.read_text()) for p in sorted((folder / "cells").glob("*.json"))]
    curve = choice_cells(choice)
    lines = ["", f"The training budget at n = {choice.choice_size}, default rates, same held-out rows (mean of seeds 0, 1):", "",
             "| method | 1 epoch of batch 32 (4 steps, `ptune train`'s budget before min_steps) | 100 steps of batch 16 (the curve's) |",
             "|---|---|---|"]
    for method in methods:
        short = [100 * r["dev_score"] for r in rows if r.get("method") == method and "dev_score" in r]
        long = [100 * r["dev_score"] for r in curve if r.get("method") == method and "dev_score" in r]
        cells = [f"{statistics.mean(v):.1f}" + ("" if len(v) == 2 else f" ({len(v)} seed)") if v else "—"
                 for v in (short, long)]
        lines.append(f"| {method} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def apply(choice: CurveChoice, sizes: str, only_chosen: bool = False) -> None:
    # from the held-out cells, rewriting the rates file
    chosen = summarize_choice(choice, budget_check(choice, run=False) if choice.curve == "sst2-curve" else "")
    defaults = choice.defaults()
    missing = sorted(set(defaults) - set(chosen))
    if missing:
        flag = "" if choice.curve == "sst2-curve" else f" --curve {choice.curve}"
        sys.exit(f"no rate chosen yet for {', '.join(missing)}: run `python benchmarks/curve_lrs.py choose{flag}` first")
    moved = {m for m, lr in chosen.items() if abs(lr - defaults[m]) > 1e-12}
    methods = [with_lr(m, chosen[m]) if m in moved else m for m in defaults if m in moved or only_chosen]
    methods += list(CLOSED_FORM) if only_chosen else []
    if not methods:
        print("every chosen rate is the default: the default-rate rows are the tuned ones")
        return
    # one timed pass over dev, not three: the curve reports scores, and CoNLL's 3,250 dev sentences
    # would otherwise take more of a cell than its training (cells made with 3 are kept: same scores)
    compare(choice, "--train-sizes", sizes, "--seeds", "0,1,2,3,4", "--methods", ",".join(methods),
            "--eval-repeats", "1", "--output", str(CURVES_DIR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("choose", "table", "apply"),
                        help="choose: run the held-out grid and choose; table: the table from the cells so far; "
                             "apply: the curve at the chosen rates")
    parser.add_argument("--curve", choices=sorted(CHOICES), default="sst2-curve")
    parser.add_argument("--sizes", default=None, help="training sizes for apply (default: the curve's)")
    parser.add_argument("--only-chosen", action="store_true",
                        help="apply: every method once, at its chosen rate (no default-rate rows for the others)")
    args = parser.parse_args()
    choice = CHOICES[args.curve]
    if args.part == "choose":
        choose(choice)
    elif args.part == "table":
        summarize_choice(choice, budget_check(choice, run=False) if choice.curve == "sst2-curve" else "")
    else:
        apply(choice, args.sizes or ",".join(map(str, CURVES[choice.curve].sizes)), args.only_chosen)


if __name__ == "__main__":
    sys.exit(main())
