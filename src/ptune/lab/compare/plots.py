"""PNG plots of a grid's summaries (matplotlib, no display needed)."""
from __future__ import annotations

import statistics
from pathlib import Path

from ptune.lab.compare.summary import Summary


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(plt, figure, axes, path: Path, *, title: str, xlabel: str, ylabel: str) -> bool:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def plot_accuracy_vs_parameters(summaries: list[Summary], path: Path, title: str) -> bool:
    done = [s for s in summaries if s.runs]
    if not done:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for s in done:
        x = s.runs[0]["trainable_parameters"]
        axes.errorbar([x], [100 * s.mean("dev_score")], yerr=[100 * s.std("dev_score")], fmt="o", capsize=4,
                      label=s.method)
        axes.annotate(s.method, (x, 100 * s.mean("dev_score")), textcoords="offset points", xytext=(5, 4),
                      fontsize=8)
    axes.set_xscale("log")
    return finish(plt, figure, axes, path, title=title,
                  xlabel="trainable parameters (log scale)", ylabel="dev accuracy, % (mean ± std over seeds)")


def virtual_token_points(summaries: list[Summary]) -> list[tuple[int, Summary]]:
    """ptune rows that differ from the default at most in num_virtual_tokens."""
    from ptune.defaults import default_injection, default_prompt_length

    points = []
    for s in summaries:
        if s.runs and s.base_method == "ptune" and set(s.settings) <= {"num_virtual_tokens"}:
            task = s.runs[0].get("task", "classification") if s.runs else "classification"
            injection = s.settings.get("injection") or default_injection(task)
            points.append((s.settings.get("num_virtual_tokens", default_prompt_length(task, injection)), s))
    return sorted(points, key=lambda p: p[0])


def plot_accuracy_vs_virtual_tokens(summaries: list[Summary], path: Path, title: str) -> bool:
    points = virtual_token_points(summaries)
    if len(points) < 2:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.errorbar([k for k, _ in points], [100 * s.mean("dev_score") for _, s in points],
                  yerr=[100 * s.std("dev_score") for _, s in points], marker="o", capsize=4)
    axes.set_xscale("log")
    axes.set_xticks([k for k, _ in points], [str(k) for k, _ in points])
    return finish(plt, figure, axes, path, title=title,
                  xlabel="number of virtual tokens", ylabel="dev accuracy, %")


def plot_loss_curves(summaries: list[Summary], path: Path, title: str) -> bool:
    """Training loss per method, averaged over seeds at each logged step."""
    curves = [s for s in summaries if s.runs and any(r.get("loss_curve") for r in s.runs)]
    if not curves:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for s in curves:
        by_step: dict[int, list[float]] = {}
        for run in s.runs:
            for step, loss in run.get("loss_curve", []):
                by_step.setdefault(step, []).append(loss)
        steps = sorted(by_step)
        axes.plot(steps, [statistics.mean(by_step[t]) for t in steps], label=s.method, linewidth=1.2)
    axes.legend(fontsize=7)
    return finish(plt, figure, axes, path, title=title,
                  xlabel="optimizer step", ylabel="training loss (batch, mean over seeds)")
