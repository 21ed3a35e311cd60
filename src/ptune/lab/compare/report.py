"""Tables from a grid's result rows: markdown laid out like the seed lab's tables, CSV, and
(plots.py) PNG plots. Accuracy is mean ± sample std over seeds; costs are medians over seeds."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from ptune.lab.compare.ablation import FULL, ROWS, AblationRow
from ptune.lab.compare.summary import Summary, summarize  # noqa: F401

# The seed lab's table 6.1 (BERT-base, SST-2): accuracy and parameter efficiency.
LAB_TABLE_6_1 = {
    "ptune": ("91.2", "0.1%"), "peft-ptuning": ("91.2", "0.1%"), "peft-prompt": ("89.1", "0.01%"),
    "peft-lora": ("91.8", "0.3%"), "bitfit": ("88.7", "0.08%"), "full-ft": ("92.5", "100%"),
}


def percent(value: float, std: float | None = None) -> str:
    return f"{100 * value:.1f}" if std is None else f"{100 * value:.1f} ± {100 * std:.1f}"


def size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024


def learning_rate(row: dict) -> str:
    lr = row["learning_rates"]["lr"]
    return "closed form" if lr is None else f"{lr:g}"  # the logistic probe is fitted, not trained


def failure_cells(summary: Summary) -> str:
    return "; ".join(f"seed {r['seed']}: {r.get('error_summary', 'failed')[:100]}" for r in summary.failures)


def score_names(summaries: list[Summary]) -> tuple[str, str, str]:
    """(headline metric, second column title, its row key): accuracy and macro-F1 for
    classification grids, entity F1 and token accuracy for token classification."""
    first = next((s.runs[0] for s in summaries if s.runs), {})
    if first.get("task") == "token_classification":
        return "entity F1", "token accuracy", "dev_accuracy"
    return "accuracy", "macro-F1", "dev_macro_f1"


def comparison_table(summaries: list[Summary], *, lab_column: bool = False, split: str = "dev") -> str:
    """Table 6.1's layout: accuracy, parameter efficiency, training time, stability (the std).
    `lab_column` adds the seed lab's SST-2 numbers (only meaningful for an SST-2 grid); `split`:
    the split scored (the fewshot protocol scores test where a data set has no dev split)."""
    metric, second, second_key = score_names(summaries)
    lines = [f"| method | {split} {metric} (mean ± std) | {second} | trainable params | % of model | train time s "
             "| train samples/s | eval samples/s | peak RSS MB | inference files | lr | seeds "
             "| lab, BERT-base SST-2: acc / params |",
             "|---" * 13 + "|"]
    for s in summaries:
        lab = LAB_TABLE_6_1.get(s.method)
        lab_text = f"{lab[0]} / {lab[1]}" if lab and lab_column else "—"
        if s.runs:
            first = s.runs[0]
            spread = (lambda key: s.std(key)) if len(s.runs) > 1 else (lambda key: None)  # no ± for one seed
            lines.append(
                f"| {s.method} | {percent(s.mean('dev_score'), spread('dev_score'))} "
                f"| {percent(s.mean(second_key), spread(second_key))} | {first['trainable_parameters']:,} "
                f"| {first['trainable_percent']:.3g}% | {s.median('train_seconds'):.0f} "
                f"| {s.median('train_samples_per_s'):.1f} | {s.median('eval_samples_per_s'):.1f} "
                f"| {s.median('peak_rss_mb'):.0f} | {size(first['inference_bytes'])} "
                f"| {learning_rate(first)} | {','.join(map(str, s.seeds))} | {lab_text} |")
        if s.failures:
            lines.append(f"| {s.method} | **FAILED** ({failure_cells(s)}) |" + " |" * 10 + f" {lab_text} |")
    return "\n".join(lines)


def ablation_table(summaries: list[Summary], rows: list[AblationRow] = ROWS, *, lab_column: bool = False) -> str:
    """Table 6.2's layout: each change from the full configuration with its delta."""
    by_method = {s.method: s for s in summaries}
    full = by_method.get(FULL)
    reference = full.mean("dev_score") if full and full.runs else None
    lab_full = next((r.lab_accuracy for r in rows if r.method == FULL), None)
    lines = ["| change | method | dev accuracy | Δ vs full | trainable params | seeds | lab, BERT-base SST-2: acc (Δ) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        s = by_method.get(row.method)
        lab = "—" if row.lab_accuracy is None or not lab_column else (
            f"{row.lab_accuracy:.1f}" if row.method == FULL else f"{row.lab_accuracy:.1f} ({row.lab_accuracy - lab_full:+.1f})")
        if s is None:
            lines.append(f"| {row.label} | `{row.method}` | not run | | | | {lab} |")
            continue
        if s.runs:
            accuracy = s.mean("dev_score")
            delta = "—" if row.method == FULL or reference is None else f"{100 * (accuracy - reference):+.1f}"
            lines.append(f"| {row.label} | `{row.method}` | {percent(accuracy, s.std('dev_score') if len(s.runs) > 1 else None)} "
                         f"| {delta} | {s.runs[0]['trainable_parameters']:,} | {','.join(map(str, s.seeds))} | {lab} |")
        if s.failures:
            lines.append(f"| {row.label} | `{row.method}` | **FAILED** ({failure_cells(s)}) | | | | {lab} |")
    return "\n".join(lines)


CSV_COLUMNS = ["method", "label", "seeds", "failed_seeds", "metric", "dev_score_mean", "dev_score_std",
               "dev_macro_f1_mean", "dev_macro_f1_std", "trainable_parameters", "trainable_percent",
               "train_seconds_median", "train_samples_per_s_median", "eval_samples_per_s_median",
               "peak_rss_mb_median", "inference_bytes", "lr", "head_lr", "error"]


def write_csv(summaries: list[Summary], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for s in summaries:
            row = {"method": s.method, "label": s.label, "seeds": " ".join(map(str, s.seeds)),
                   "failed_seeds": " ".join(str(r["seed"]) for r in s.failures), "error": failure_cells(s)}
            if s.runs:
                first = s.runs[0]
                row.update({
                    "metric": first.get("metric", "accuracy"), "dev_score_mean": s.mean("dev_score"), "dev_score_std": s.std("dev_score"),
                    **({"dev_macro_f1_mean": s.mean("dev_macro_f1"), "dev_macro_f1_std": s.std("dev_macro_f1")}
                       if all("dev_macro_f1" in r for r in s.runs) else {}),
                    "trainable_parameters": first["trainable_parameters"],
                    "trainable_percent": first["trainable_percent"],
                    "train_seconds_median": s.median("train_seconds"),
                    "train_samples_per_s_median": s.median("train_samples_per_s"),
                    "eval_samples_per_s_median": s.median("eval_samples_per_s"),
                    "peak_rss_mb_median": s.median("peak_rss_mb"), "inference_bytes": first["inference_bytes"],
                    "lr": first["learning_rates"]["lr"], "head_lr": first["learning_rates"]["head_lr"]})
            writer.writerow(row)


def write_reports(output: Path, rows: list[dict], *, order: list[str], kind: str, title: str,
                  plots: bool = True, lab_column: bool = False) -> list[Path]:
    """results table (.md), CSV and plots into `output`; returns the files written."""
    summaries = summarize(rows, order)
    written = []
    protocol = output / "protocol.json"
    split = json.loads(protocol.read_text()).get("eval_split") or "dev" if protocol.exists() else "dev"
    table = (ablation_table(summaries, lab_column=lab_column) if kind == "ablation"
             else comparison_table(summaries, lab_column=lab_column, split=split))
    (output / "table.md").write_text(f"# {title}\n\n{table}\n")
    written.append(output / "table.md")
    write_csv(summaries, output / "summary.csv")
    written.append(output / "summary.csv")
    if plots:
        from ptune.lab.compare.plots import plot_accuracy_vs_parameters, plot_accuracy_vs_virtual_tokens, plot_loss_curves

        for name, plot in (("accuracy_vs_parameters.png", plot_accuracy_vs_parameters),
                           ("accuracy_vs_virtual_tokens.png", plot_accuracy_vs_virtual_tokens),
                           ("loss_curves.png", plot_loss_curves)):
            if plot(summaries, output / name, title):
                written.append(output / name)
    return written
