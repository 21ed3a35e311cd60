"""Advice from the measured learning curves: with N labelled examples of a task on a backbone of a
given size, which method scored best on each of ptune's own curves of that task, with the score and
spread it rests on.

The curves are `ptune compare --protocol sst2-curve / conll-curve / fewshot` runs
(ptune.lab.compare.curve); their summaries ship in ptune/resources/curves/ (made from
benchmarks/results/curves and benchmarks/results/fewshot, whose cells are committed, by
benchmarks/curve_report.py), and `ptune advise --curves DIR` reads others. A curve records its input
form, so sentence pairs are answered from pair curves only. The answer says where it extrapolates
(a training size outside the measured ones, a backbone of another size, a task no curve covers),
when nothing is clear of the majority class, and whether the lab's rule (P-Tuning below 1,000
examples, 8.2) holds on the curves.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ptune.errors import ConfigError
from ptune.lab.compare.curve import without_rates

PACKAGED = Path(__file__).resolve().parents[1] / "resources" / "curves"
CURVE_TASK = {"classification": "classification", "ner": "token_classification"}
SMALL_DATA = 1000
PTUNING_METHODS = ("ptune", "peft-ptuning")
"""Base methods that are P-Tuning (ptune's, with any injection or head, and PEFT's)."""
FULL_MODEL = ("full-ft", "setfit")
"""Methods that train every weight of the backbone (SetFit's contrastive phase does), so a task
needs a copy of it: never the "best parameter-efficient" pick."""
HOW_TRAINED = {
    "logistic-probe": "fitted in closed form, its regularisation chosen by cross-validation on the training rows",
    "setfit": "the setfit package at its documented defaults: contrastive pairs train the whole backbone, then a "
              "logistic head; a full copy of the backbone per task",
}
"""How a method without a learning rate in the curves trains, for the advice's headline."""


@dataclass
class CurveAdvice:
    task: str
    train_size: int
    curve: str
    backbone: str
    size: int
    """The measured training size (rows) the advice rests on."""
    method: str
    mean: float
    std: float
    seeds: int
    lr: float | None
    steps: int
    metric: str
    notes: list[str] = field(default_factory=list)
    """Where the advice extrapolates, near-ties, the best parameter-efficient pick."""
    lab_rule: list[str] = field(default_factory=list)
    """Whether the curves support the lab's P-Tuning-below-1,000 rule, size by size."""

    per_class: int | None = None
    """For a fewshot curve, the rows per class (K) that `size` came to."""

    def headline(self) -> str:
        return (f"with {self.train_size:,} labelled examples on this backbone, use {self.method}"
                + (f" (lr {self.lr:g}, {self.steps} steps of batch 16)" if self.lr else
                   f" ({HOW_TRAINED[base_method(self.method)]})" if base_method(self.method) in HOW_TRAINED else "")
                + f"; it scores {self.mean:.1f} ± {self.std:.1f} {self.metric} here"
                + f" (n = {self.size:,}" + (f", K = {self.per_class} per class" if self.per_class else "")
                + f", {self.seeds} seeds, {self.curve} on {self.backbone})")


def load_curves(source: Path | None = None) -> list[dict]:
    """Curve summaries (`<data>-curve.json`) from a folder or file; default: the packaged ones."""
    source = Path(source) if source is not None else PACKAGED
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(source.glob("*-curve.json"))
    else:
        raise ConfigError("--curves", [f"{source}: no such file or folder"])
    if not files:
        raise ConfigError("--curves", [f"{source} holds no <data>-curve.json (write them with ptune compare "
                                       "--protocol sst2-curve ... or --train-sizes)"])
    curves = []
    for path in files:
        try:
            curve = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError("--curves", [f"{path}: not a curve summary ({err})"]) from None
        if not isinstance(curve, dict) or not isinstance(curve.get("points"), list):
            raise ConfigError("--curves", [f"{path}: not a curve summary (no 'points' list)"])
        curves.append(curve)
    return curves


def base_method(method: str) -> str:
    return method.split("[", 1)[0]


def is_ptuning(method: str) -> bool:
    return base_method(method) in PTUNING_METHODS


def candidates(curve: dict, min_seeds: int) -> list[dict]:
    """The points advice may pick: enough seeds, each method at its rate chosen on held-out rows
    (a row at another rate is there for comparison; taking the best rate on dev would select on dev),
    nothing that starts from another task's adapter (the user may have none; it is a note), and on
    a fewshot curve only the suite's methods at their one setting (other rows are ablations: picking
    the best of them on the test split would select on it)."""
    return [p for p in curve["points"] if len(p.get("scores", [])) >= min_seeds and p.get("chosen", True)
            and not starts_elsewhere(p["method"])
            and not (curve.get("per_class") and without_rates(p["method"]) != base_method(p["method"]))]


def starts_elsewhere(method: str) -> bool:
    return "init_from=" in method


def rows_of(point: dict) -> int:
    """Training rows of a point (a fewshot point's `size` is rows per class)."""
    return point.get("rows") or point["size"]


def advice_points(curve: dict, min_seeds: int) -> list[dict]:
    """The candidates, each sized in training rows (`per_class`: the K it came from, fewshot only)."""
    return [{**p, "size": rows_of(p), "per_class": p["size"] if curve.get("per_class") else None}
            for p in candidates(curve, min_seeds)]


def curve_label(curve: dict) -> str:
    return f"fewshot {curve.get('name', '?')}" if curve.get("per_class") else f"{curve.get('name', '?')}-curve"


def covers(curve: dict, task: str, inputs: str) -> bool:
    """Whether a curve speaks for `task` on inputs of form `inputs`: pairs from pair curves only,
    anything else (texts, NER's words; unrecorded in curves written before pairs had curves) from
    the rest."""
    return curve.get("task") == CURVE_TASK.get(task) and (curve.get("inputs") == "pair") == (inputs == "pair")


def nearest_size(sizes: list[int], train_size: int) -> int:
    return min(sizes, key=lambda s: (abs(math.log(s) - math.log(train_size)), s))


def advise_from_curves(task: str, *, model_size: int, train_size: int, curves: list[dict], inputs: str = "text",
                       min_seeds: int = 3) -> list[CurveAdvice]:
    """One answer per curve that covers `task` on inputs of form `inputs` (text, pair), the curve
    whose nearest measured size is nearest `train_size` first; empty when none covers it. Points
    with fewer than `min_seeds` seeds are left out."""
    answers = [a for a in (advise_from_curve(c, task=task, model_size=model_size, train_size=train_size,
                                             min_seeds=min_seeds) for c in curves if covers(c, task, inputs)) if a]
    return sorted(answers, key=lambda a: abs(math.log(a.size) - math.log(train_size)))


def advise_from_curve(curve: dict, *, task: str, model_size: int, train_size: int,
                      min_seeds: int = 3) -> CurveAdvice | None:
    """What one curve measured best at the size nearest `train_size`; None when no point has enough seeds."""
    points = advice_points(curve, min_seeds)
    if not points:
        return None
    sizes = sorted({p["size"] for p in points})
    size = nearest_size(sizes, train_size)
    here = sorted((p for p in points if p["size"] == size), key=lambda p: -p["mean"])
    best = here[0]
    advice = CurveAdvice(task=task, train_size=train_size, curve=curve_label(curve),
                         backbone=curve.get("backbone", "?"), size=size, method=best["method"], mean=best["mean"],
                         std=best["std"], seeds=len(best["scores"]), lr=best.get("lr"), steps=best.get("steps", 0),
                         metric=curve.get("metric", "score"), per_class=best["per_class"])
    if train_size < sizes[0] or train_size > sizes[-1]:
        advice.notes.append(f"extrapolated: {train_size:,} examples lies outside the measured sizes "
                            f"({', '.join(f'{s:,}' for s in sizes)}); the nearest, n = {size:,}, is the evidence")
    elif train_size != size:
        below = max(s for s in sizes if s <= train_size)
        above = min(s for s in sizes if s >= train_size)
        advice.notes.append(f"{train_size:,} lies between the measured n = {below:,} and n = {above:,}; "
                            f"the nearer (log scale), n = {size:,}, is the evidence")
    measured_on = curve.get("backbone_parameters")
    if measured_on and not 1 / 3 <= model_size / measured_on <= 3:
        advice.notes.append(f"extrapolated: the curve was measured on a backbone of {measured_on / 1e6:.1f}M "
                            f"parameters, yours has {model_size / 1e6:.1f}M; rankings can change with size "
                            "(the lab's tables are BERT-base, 110M)")
    tied = [p for p in here[1:] if best["mean"] - p["mean"] <= max(best["std"], p["std"])]
    if tied:
        advice.notes.append("within the seed spread of it: " + "; ".join(
            f"{p['method']} {p['mean']:.1f} ± {p['std']:.1f}" for p in tied))
    if base_method(best["method"]) in FULL_MODEL:
        efficient = next((p for p in here if base_method(p["method"]) not in FULL_MODEL), None)
        if efficient:
            advice.notes.append(f"it trains every weight; the best parameter-efficient method here is "
                                f"{efficient['method']} ({efficient['mean']:.1f} ± {efficient['std']:.1f}, "
                                f"{efficient['trainable_percent']:.2g}% of the parameters)")
    majority = curve.get("majority")
    if majority is not None and best["mean"] - majority <= best["std"]:
        advice.notes.append(f"no method is clear of the majority class here ({majority:.1f}, always answering the "
                            f"most frequent label; the best scores {best['mean']:.1f} ± {best['std']:.1f}): at this "
                            "size the task is not learnt by any method measured; label more examples")
    absent = not_measured_at(points, size)
    if absent:
        advice.notes.append(f"not measured at n = {size:,} (or with fewer than {min_seeds} seeds): "
                            f"{', '.join(absent)}, which this curve has at other sizes; the pick is among the rest")
    transferred = [p for p in curve["points"] if starts_elsewhere(p["method"]) and rows_of(p) == size
                   and len(p.get("scores", [])) >= min_seeds and p["mean"] > best["mean"]]
    for p in transferred:
        advice.notes.append(f"started from another task's adapter ({p['method']}), it scored {p['mean']:.1f} ± "
                            f"{p['std']:.1f}: with an adapter of a related task, `ptune train --init-from ADAPTER`")
    advice.lab_rule = lab_rule_check(points, sizes)
    return advice


def not_measured_at(points: list[dict], size: int) -> list[str]:
    """Methods the curve has at other sizes but not at `size` (by family: a variant measured here counts), so a
    pick there is made without them."""
    return sorted({base_method(p["method"]) for p in points}
                  - {base_method(p["method"]) for p in points if p["size"] == size})


def lab_rule_check(points: list[dict], sizes: list[int]) -> list[str]:
    """Per measured size below 1,000: is a P-Tuning method the best, or within the seed spread of it?"""
    lines = []
    for size in (s for s in sizes if s < SMALL_DATA):
        here = sorted((p for p in points if p["size"] == size), key=lambda p: -p["mean"])
        best = here[0]
        ptuning = next((p for p in here if is_ptuning(p["method"])), None)
        if ptuning is None:
            lines.append(f"n = {size:,}: no P-Tuning method measured")
        elif ptuning is best:
            runner = here[1] if len(here) > 1 else None
            close = runner is not None and best["mean"] - runner["mean"] <= max(best["std"], runner["std"])
            lines.append(f"n = {size:,}: supported, {best['method']} is best ({best['mean']:.1f} ± {best['std']:.1f})"
                         + ("" if runner is None else
                            f", {'but within the seed spread of' if close else 'clearly ahead of'} "
                            f"{runner['method']} ({runner['mean']:.1f} ± {runner['std']:.1f})"))
        elif best["mean"] - ptuning["mean"] <= max(best["std"], ptuning["std"]):
            lines.append(f"n = {size:,}: not contradicted, {ptuning['method']} ({ptuning['mean']:.1f} ± "
                         f"{ptuning['std']:.1f}) is within the seed spread of the best, {best['method']} "
                         f"({best['mean']:.1f} ± {best['std']:.1f})")
        else:
            lines.append(f"n = {size:,}: NOT supported, {best['method']} ({best['mean']:.1f} ± {best['std']:.1f}) "
                         f"beats the best P-Tuning, {ptuning['method']} ({ptuning['mean']:.1f} ± {ptuning['std']:.1f})")
        if absent := not_measured_at(points, size):  # every verdict here is made without them
            lines[-1] += f"; not run here: {', '.join(absent)}"
    return lines


def format_curve_advice(answers: list[CurveAdvice], task: str, inputs: str = "text") -> list[str]:
    what = f"{task} of sentence pairs" if inputs == "pair" else task
    if not answers:
        return ["measured (learning curves): no learning curve covers "
                f"{what}; the advice below is the lab's rule alone"]
    lines = ["measured (learning curves):"]
    for advice in answers:
        if len(answers) > 1:
            lines.append(f"  {advice.curve}:")
        lines += [f"  {advice.headline()}"] + [f"  - {note}" for note in advice.notes]
        if advice.lab_rule:
            lines += ["  the lab's rule (P-Tuning below 1,000 examples) on this curve:"]
            lines += [f"  - {line}" for line in advice.lab_rule]
    picks = {a.method for a in answers}
    if len(picks) > 1:
        lines.append("  the curves disagree: " + "; ".join(f"{a.method} on {a.curve}" for a in answers)
                     + ". The task decides more than the size here: try the leading methods on held-out rows of yours")
    return lines


def advice_table(curve: dict, *, min_seeds: int = 3) -> str:
    """One line per measured size: what `ptune advise` answers there (BENCHMARKS.md quotes it)."""
    points = advice_points(curve, min_seeds)
    if not points:
        return f"No measured size has a point with {min_seeds} finished seeds yet: nothing to advise from."
    sizes = sorted({p["size"] for p in points})
    per_class = {p["size"]: p["per_class"] for p in points}
    lines = ["| labelled examples | use | scores (mean ± std) | best parameter-efficient | lab's rule |",
             "|---|---|---|---|---|"]
    rule = dict(zip([s for s in sizes if s < SMALL_DATA], lab_rule_check(points, sizes)))
    for size in sizes:
        here = sorted((p for p in points if p["size"] == size), key=lambda p: -p["mean"])
        efficient = next(p for p in here if base_method(p["method"]) not in FULL_MODEL)
        verdict = short_verdict(rule.get(size, "—"))
        rows = f"{size:,}" + (f" (K = {per_class[size]})" if per_class[size] else "")
        absent = not_measured_at(points, size)
        if absent:
            verdict = f"{'' if verdict == '—' else verdict + ' '}({', '.join(absent)} not run here)"
        lines.append(f"| {rows} | {here[0]['method']} | {here[0]['mean']:.1f} ± {here[0]['std']:.1f} | "
                     f"{efficient['method']} ({efficient['mean']:.1f} ± {efficient['std']:.1f}) | {verdict} |")
    return "\n".join(lines)


def short_verdict(line: str) -> str:
    """A lab-rule line -> its verdict for a table cell ("supported, within the seed spread of X")."""
    if line == "—":
        return line
    line = line.split("; not run here: ")[0]  # the table says which methods are missing in its own words
    verdict = line.split(": ", 1)[-1].split(",")[0]
    if "but within the seed spread of" in line:
        rival = line.split("but within the seed spread of ", 1)[1].split(" (")[0]
        return f"{verdict}, within the seed spread of {rival}"
    return verdict
