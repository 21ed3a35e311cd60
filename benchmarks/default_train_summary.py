"""The default `ptune train` beside the committed deep-prompt cells, and the resolved defaults.

    python benchmarks/default_train_summary.py   # writes benchmarks/results/default-train/summary.md

Table 1 is generated from the code (ptune.settings.resolve with no settings): what `ptune train`
trains for each task when given no flags (for sentence classification, on single sentences and on
sentence pairs, whose deep prompts default to the MLP encoder). Table 2 reads the runs of
benchmarks/run_default_train.sh and the committed cells of `ptune compare` that trained the same
settings (DEFAULT_CELLS).
"""
from __future__ import annotations

import glob
import json
import statistics
from pathlib import Path

from ptune.defaults import RECIPE_MAX_TRAIN_ROWS, RECIPE_MIN_LABELS
from ptune.settings import resolve, resolve_training

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "benchmarks" / "results" / "default-train"
CELLS = {"sst2": "compare-sst2-minilm", "conll": "compare-conll-minilm", "rte": "compare-rte-minilm"}
TASKS = {"sst2": "classification", "conll": "token_classification", "rte": "classification"}
METRIC = {"sst2": "accuracy", "conll": "f1", "rte": "accuracy"}
DEFAULT_CELLS = {"sst2": "ptune[injection=deep]", "conll": "ptune[injection=deep]",
                 "rte": "ptune[injection=deep;encoder=mlp]"}
"""The committed compare cells that trained what `ptune train` now trains by default: RTE's rows are
sentence pairs, whose deep prompt is made by the MLP encoder (ptune.defaults.PAIR_ENCODERS)."""


def defaults_table() -> list[str]:
    lines = ["| task | injection | prompt positions | encoder | head start | head layer | lr (prompt / head) | max_length "
             "| epochs | batch | evaluations | precision |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in ("classification", "token_classification", "question_answering"):
        for inputs in ("text", "pair") if task == "classification" else ("text",):
            r = resolve(task, inputs=inputs)
            p, t = r.ptuning, r.training
            if inputs == "pair" and p.encoder == resolve(task).ptuning.encoder:
                continue  # the input form changes nothing for this task
            name = f"{task} (sentence pairs)" if inputs == "pair" else task
            encoder = f"{p.encoder.name} (init {p.encoder.init})"
            evaluations = f"every {t.eval_every} steps" if t.eval_every else "at most 10, within the rows trained"
            start, layer, head_lr = start_cells(task, p, t)
            lines.append(f"| {name} | {p.injection} | {p.num_virtual_tokens} | {encoder} | {start} | {layer} | "
                         f"{t.lr:g} / {head_lr} | {p.max_length} | {t.epochs:g} | {t.batch_size} | {evaluations} | "
                         f"{t.precision} |")
    return lines


def start_cells(task: str, ptuning, training) -> tuple[str, str, str]:
    """The head start, the layer it reads and its rate; by the training set's size where the start
    depends on it (ptune.defaults.RECIPE_MAX_TRAIN_ROWS)."""
    def cells(t):
        layer = "chosen on the training rows" if t.choose_layer else (
            "last" if ptuning.task.layer is None else str(ptuning.task.layer))
        start = t.head_init + (f" (prompt first {t.contrastive_steps} steps on pairs)" if t.contrastive_steps else "")
        return start, layer, f"{t.head_lr:g}"

    if training.head_init is not None and training.contrastive_steps is not None:
        return cells(training)
    limit, labels = RECIPE_MAX_TRAIN_ROWS[task], RECIPE_MIN_LABELS.get(task)
    small = cells(resolve_training(training, ptuning, train_rows=limit, train_labels=labels or 2))
    large = cells(resolve_training(training, ptuning, train_rows=limit + 1, train_labels=labels or 2))
    where = f"up to {limit:,} training rows" + (f" of {labels}+ labels" if labels else "")
    return tuple(f"{a} {where}, {b} otherwise" for a, b in zip(small, large))


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def results_table() -> list[str]:
    lines = ["| protocol | default `ptune train`: last step, per seed | mean ± std | best checkpoint (step), per seed | "
             "committed cells of the same settings, per seed | mean ± std |", "|---|---|---|---|---|---|"]
    for name in ("sst2", "conll", "rte"):
        runs = sorted(RUNS.glob(f"{name}-seed*/metrics.json"))
        metric = METRIC[name]
        last = [json.loads(p.read_text())["final_dev"][metric] for p in runs]
        best = [(json.loads(p.read_text())["best_dev"][metric], json.loads(p.read_text())["best_step"]) for p in runs]
        pattern = glob.escape(DEFAULT_CELLS[name])
        cells = sorted((ROOT / "benchmarks" / "results" / CELLS[name] / "cells").glob(f"{pattern}__seed*.json"))
        committed = [json.loads(p.read_text())["dev_score"] for p in cells]
        seeds = lambda values: " ".join(f"{100 * v:.1f}" for v in values) or "—"  # noqa: E731
        lines.append(f"| {name}-minilm ({metric}), `{DEFAULT_CELLS[name]}` | {seeds(last)} | {mean_std(last)} | "
                     f"{' '.join(f'{100 * v:.1f} ({s})' for v, s in best) or '—'} | {seeds(committed)} | "
                     f"{mean_std(committed)} |")
    return lines


def cell_score(folder: Path, method: str) -> str:
    path = folder / "cells" / f"{method}__seed0.json"
    if not path.exists():
        return "—"
    row = json.loads(path.read_text())
    return f"{100 * row['dev_score']:.2f} ({row['precision']})" if "dev_score" in row else "FAILED"


def engine_table() -> list[str]:
    """Seed 0 of each grid: the committed cell, the engine on this machine, the code before it here."""
    recheck = ROOT / "benchmarks" / "results" / "engine-recheck"
    lines = ["| protocol | committed `ptune[injection=deep]` cell | engine (`ptune`), this machine | "
             "code before the engine (`ptune[injection=deep]`), this machine |", "|---|---|---|---|"]
    for name in ("sst2", "conll", "rte"):
        committed = cell_score(ROOT / "benchmarks" / "results" / CELLS[name], "ptune[injection=deep]")
        lines.append(f"| {name}-minilm | {committed} | {cell_score(recheck / f'{name}-minilm', 'ptune')} | "
                     f"{cell_score(recheck / f'before-{name}-minilm', 'ptune[injection=deep]')} |")
    return lines


def main() -> None:
    text = "\n".join(["# The default `ptune train`", "", "## Resolved defaults (generated from the code)", "",
                      *defaults_table(), "", "## Dev scores", "", *results_table(), "",
                      "## Seed 0 through the engine and before it", "", *engine_table(), ""])
    (RUNS / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
