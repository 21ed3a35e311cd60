"""The multi-task table of BENCHMARKS.md: joint training (benchmarks/run_multitask.sh) against the
single-task deep-prompt rows of the same protocols (benchmarks/run_tasks.sh), seeds 0-2.

    python benchmarks/multitask_summary.py > benchmarks/results/multitask-summary.md
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {"sst2": ("compare-sst2-minilm", "accuracy"), "rte": ("compare-rte-minilm", "accuracy"),
         "conll": ("compare-conll-minilm", "f1")}
ARMS = {"joint": "joint, separate prompts (ptune defaults: deep, per-task tables)",
        "mlp-separate": "joint, 600 steps, an MLP encoder per task",
        "mlp-shared": "joint, 600 steps, one MLP encoder shared by all tasks"}


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    mean = 100 * statistics.fmean(values)
    std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f} (n={len(values)})"


def single_task(grid: str, metric: str) -> list[float]:
    rows = [json.loads(line) for line in (RESULTS / grid / "results.jsonl").read_text().splitlines()]
    return [r[f"dev_{metric}"] for r in rows if r["method"] == "ptune[injection=deep]" and r["seed"] in (0, 1, 2)]


def joint(arm: str) -> dict[str, list]:
    runs = sorted((RESULTS / "multitask").glob(f"{arm}-seed*/metrics.json"))
    return [json.loads(p.read_text()) for p in runs]


def main() -> None:
    print("| task (metric) | single-task, deep prompts | " + " | ".join(ARMS.values()) + " |")
    print("|---|---|" + "---|" * len(ARMS))
    runs = {arm: joint(arm) for arm in ARMS}
    for task, (grid, metric) in TASKS.items():
        cells = [spread(single_task(grid, metric))]
        cells += [spread([m["tasks"][task]["best_dev"][metric] for m in runs[arm]]) for arm in ARMS]
        print(f"| {task} ({metric}) | " + " | ".join(cells) + " |")
    print()
    print("| run | trainable parameters | steps per task (sst2 / rte / conll) | train seconds | precision |")
    print("|---|---|---|---|---|")
    for arm, metrics in runs.items():
        for m in metrics:
            steps = " / ".join(str(m["tasks"][t]["steps_trained"]) for t in TASKS)
            seed = Path(m["tasks"]["sst2"]["adapter"]).parent.name
            print(f"| {seed} | {m['trainable_parameters']:,} | {steps} | {m['train_seconds']:.0f} | {m['precision']} |")


if __name__ == "__main__":
    main()
