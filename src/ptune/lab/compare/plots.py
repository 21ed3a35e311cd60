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
    figure.savefig(path, dpi=120, bbox_inches="tight")  # legends outside the axes stay in the picture
    plt.close(figure)
    return True


def colours(plt, count: int) -> list:
    """Distinct colours for up to 20 series (tab20), so no two methods share one."""
    palette = plt.get_cmap("tab20" if count > 10 else "tab10")
    return [palette(i % palette.N) for i in range(count)]


def score_label(summaries: list[Summary]) -> str:
    """`dev accuracy, % (mean ± std over 3 seeds)`, or `(one seed)`: what the points are."""
    first = next((s.runs[0] for s in summaries if s.runs), {})
    metric = "entity F1" if first.get("metric") == "f1" else "accuracy"
    seeds = max((len(s.runs) for s in summaries), default=1)
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    return f"dev {metric}, % ({spread})"


def majority_line(axes, summaries: list[Summary]) -> None:
    """The majority-class accuracy, where the cells recorded it: the score of guessing."""
    shares = {round(r["dev_majority"], 4) for s in summaries for r in s.runs if "dev_majority" in r}
    if len(shares) == 1:
        share = 100 * shares.pop()
        axes.axhline(share, color="grey", linestyle="--", linewidth=1, label=f"majority class ({share:.1f})")


def plot_accuracy_vs_parameters(summaries: list[Summary], path: Path, title: str) -> bool:
    done = [s for s in summaries if s.runs]
    if not done:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    markers = "osD^vP*Xh<>p"
    for i, (s, colour) in enumerate(zip(done, colours(plt, len(done)))):
        x = s.runs[0]["trainable_parameters"]
        axes.errorbar([x], [100 * s.mean("dev_score")], yerr=[100 * s.std("dev_score")] if len(s.runs) > 1 else None,
                      fmt=markers[i % len(markers)], color=colour, capsize=4, label=s.method)
    majority_line(axes, done)
    axes.set_xscale("log")
    # A legend beside the axes instead of labels at the points: many methods sit close together.
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return finish(plt, figure, axes, path, title=title,
                  xlabel="trainable parameters (log scale)", ylabel=score_label(done))


def virtual_token_points(summaries: list[Summary]) -> list[tuple[int, Summary]]:
    """ptune rows that differ from a default at most in num_virtual_tokens (and the injection named);
    of the injections present, the one with the most such rows."""
    from ptune.defaults import default_injection, default_prompt_length

    by_injection: dict[str, list] = {}
    for s in summaries:
        if s.runs and s.base_method == "ptune" and set(s.settings) <= {"num_virtual_tokens", "injection"}:
            task = s.runs[0].get("task", "classification") if s.runs else "classification"
            injection = s.settings.get("injection") or default_injection(task)
            by_injection.setdefault(injection, []).append(
                (s.settings.get("num_virtual_tokens", default_prompt_length(task, injection)), s))
    points = max(by_injection.values(), key=len, default=[])
    return sorted(points, key=lambda p: p[0])


def plot_accuracy_vs_virtual_tokens(summaries: list[Summary], path: Path, title: str) -> bool:
    points = virtual_token_points(summaries)
    if len(points) < 2:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    several = any(len(s.runs) > 1 for _, s in points)
    axes.errorbar([k for k, _ in points], [100 * s.mean("dev_score") for _, s in points],
                  yerr=[100 * s.std("dev_score") for _, s in points] if several else None, marker="o", capsize=4)
    majority_line(axes, [s for _, s in points])
    axes.set_xscale("log")
    axes.set_xticks([k for k, _ in points], [str(k) for k, _ in points])
    return finish(plt, figure, axes, path, title=title,
                  xlabel="number of virtual tokens", ylabel=score_label([s for _, s in points]))


def plot_loss_curves(summaries: list[Summary], path: Path, title: str) -> bool:
    """Training loss per method, averaged over seeds at each logged step."""
    curves = [s for s in summaries if s.runs and any(r.get("loss_curve") for r in s.runs)]
    if not curves:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    styles = ("-", "--", "-.", ":")
    for i, (s, colour) in enumerate(zip(curves, colours(plt, len(curves)))):
        by_step: dict[int, list[float]] = {}
        for run in s.runs:
            for step, loss in run.get("loss_curve", []):
                by_step.setdefault(step, []).append(loss)
        steps = sorted(by_step)
        means = smooth([statistics.mean(by_step[t]) for t in steps], window=SMOOTHING)
        axes.plot(steps, means, label=s.method, linewidth=1.3, color=colour, linestyle=styles[(i // 10) % len(styles)])
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    seeds = max(len(s.runs) for s in curves)
    return finish(plt, figure, axes, path, title=title, xlabel="optimizer step",
                  ylabel=f"training loss ({'mean over seeds, ' if seeds > 1 else ''}moving average of {SMOOTHING} logs)")


SMOOTHING = 5
"""Logged losses (one per 10 steps) in the moving average of the loss curves."""


def smooth(values: list[float], *, window: int) -> list[float]:
    """Trailing moving average: each point is the mean of itself and up to window - 1 before it."""
    return [statistics.mean(values[max(0, i - window + 1): i + 1]) for i in range(len(values))]
