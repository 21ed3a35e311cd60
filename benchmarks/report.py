"""Markdown tables from the per-cell JSON results of a protocol run.

    python benchmarks/report.py benchmarks/results/sst2-minilm [--peer peft-ptuning]

Accuracy and macro-F1 as mean ± sample std over seeds; speeds as medians over seeds; ratios are
ptune / peer computed per seed (both ran in the same invocation, one after the other) then medianed.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def load(folder: Path) -> dict[str, list[dict]]:
    rows = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        row = json.loads(path.read_text())
        rows[row["method"]].append(row)
    return rows


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def table(rows: dict[str, list[dict]], peer: str | None) -> str:
    peer_by_seed = {r["seed"]: r for r in rows.get(peer, []) if "error" not in r}
    lines = ["| method | seeds | dev acc | macro-F1 | train samples/s | eval samples/s | train ×peer | eval ×peer "
             "| trainable (% of model) | inference bytes | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, runs in rows.items():
        failed = [r for r in runs if "error" in r]
        runs = sorted((r for r in runs if "error" not in r), key=lambda r: r["seed"])
        if failed:
            lines.append(f"| {method} | {','.join(str(r['seed']) for r in failed)} | FAILED: "
                         f"{failed[0]['error'].strip().splitlines()[-1][:80]} |" + " |" * 8)
        if not runs:
            continue
        med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
        ratios = lambda key: [r[key] / peer_by_seed[r["seed"]][key] for r in runs if r["seed"] in peer_by_seed]  # noqa: E731
        ratio = lambda key: f"{statistics.median(ratios(key)):.2f}" if ratios(key) and method != peer else "—"  # noqa: E731
        first = runs[0]
        lines.append(
            f"| {method} | {','.join(str(r['seed']) for r in runs)} | {mean_std([r['dev_accuracy'] for r in runs])} "
            f"| {mean_std([r['dev_macro_f1'] for r in runs])} | {med('train_samples_per_s'):.1f} "
            f"| {med('eval_samples_per_s'):.1f} | {ratio('train_samples_per_s')} | {ratio('eval_samples_per_s')} "
            f"| {first['trainable_parameters']:,} ({first['trainable_percent']:.2f}%) "
            f"| {first['inference_bytes']:,} | {med('peak_rss_mb'):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--peer", default="peft-ptuning")
    args = parser.parse_args()
    print(table(load(args.results), args.peer))


if __name__ == "__main__":
    main()
