"""Learning curves: one comparison grid per training-set size, and the curve read across them.

../shared/BENCHMARK.md's sst2-curve and conll-curve protocols: training subsets of a few sizes (the
first n of random.Random(seed).shuffle, so one seed's subsets are nested), batch 16, a fixed step
budget per size the same for every method, max(100 steps, 4 epochs) capped at 1,000, and no
checkpoint selection: the model after the last step is scored on the full dev split, evaluated once.

    OUTPUT/<data>-n<size>/   one resumable `ptune compare` grid per size
    OUTPUT/<data>-curve.md   mean ± std per (method, size), and the step budget of each size
    OUTPUT/<data>-curve.json the same numbers, as `ptune advise` reads them
    OUTPUT/<data>-curve.png  score against training size per method, the seed spread as error bars
    OUTPUT/<data>-rates.json optional, {method: lr}: the rate of each method chosen on held-out
                             training rows (benchmarks/curve_lrs.py writes it). When present, rows of
                             a method at other rates, and methods it does not list, are shown for
                             comparison but are not candidates: picking the best rate by its dev
                             score would be selection on dev. A method with no learning rate (the
                             logistic probe, fitted in closed form) is always a candidate.
"""
from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from ptune.errors import ConfigError
from ptune.lab.compare.protocol import ProtocolConfig

MIN_STEPS, EPOCHS_AT_LEAST, MAX_STEPS = 100, 4, 1000
RATES_SUFFIX = "-rates.json"


@dataclass(frozen=True)
class CurveProtocol:
    sizes: tuple[int, ...]
    batch_size: int = 16
    max_length: int = 128
    task: str = "classification"
    per_class: bool = False
    """Sizes count rows per class (K), drawn per class (ProtocolConfig.per_class)."""


CURVES = {
    "sst2-curve": CurveProtocol(sizes=(32, 128, 512, 2048), max_length=66),
    "conll-curve": CurveProtocol(sizes=(50, 200, 1000), task="token_classification"),
    # ../shared/BENCHMARK.md's fewshot suite: K = 8-64 per class (CoNLL: --task token_classification
    # --train-sizes 25,50,100,200 sentences), scored on dev, or on test where a data set has no dev split.
    "fewshot": CurveProtocol(sizes=(8, 16, 32, 64), per_class=True),
}
FEWSHOT_METHODS = ("ptune", "peft-lora", "full-ft", "logistic-probe", "setfit")
CURVE_METHODS = ("ptune[injection=deep]", "ptune[injection=input]", "peft-ptuning", "peft-lora", "bitfit",
                 "full-ft", "linear-probe", "logistic-probe")


def steps_for(size: int, batch_size: int) -> int:
    """max(100 steps, 4 epochs), capped at 1,000."""
    return min(MAX_STEPS, max(MIN_STEPS, EPOCHS_AT_LEAST * math.ceil(size / batch_size)))


def size_protocol(base: ProtocolConfig, size: int, classes: int | None = None) -> ProtocolConfig:
    """The grid protocol of one training size (rows, or rows per class when `base.per_class`, with
    `classes` classes in the training file): its step budget as epochs, one evaluation at the end."""
    if base.per_class and classes is None:
        from ptune.lab.compare.protocol import label_count

        classes = label_count(base)
    rows = size * classes if base.per_class else size
    steps = steps_for(rows, base.batch_size)
    return dataclasses.replace(base, train_size=size, epochs=steps / math.ceil(rows / base.batch_size),
                               eval_every=steps)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ConfigError("--train-sizes", [f"{text!r}: expected comma-separated positive counts, e.g. 32,128,512"])
    return sorted(set(sizes))


def data_name(protocol: ProtocolConfig) -> str:
    return Path(protocol.data.rstrip("/")).name or "data"


def size_folder(output: Path, protocol: ProtocolConfig, size: int) -> Path:
    return output / f"{data_name(protocol)}-n{size}"


# ---- reading a curve -------------------------------------------------------------------------
@dataclass
class CurvePoint:
    method: str
    size: int
    scores: list[float]
    """Percent, one per finished seed."""
    seeds: list[int]
    steps: int
    lr: float | None
    trainable_percent: float
    chosen: bool = True
    """False for a row at a rate other than the one chosen on held-out rows for its method, or of a
    method the chosen-rates file does not list."""
    rows: int | None = None
    """Training rows (a fewshot size is rows per class; this is what it came to)."""

    @property
    def mean(self) -> float:
        return statistics.mean(self.scores)

    @property
    def std(self) -> float:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    def to_dict(self) -> dict:
        # 4 places: what reads these prints 1, and rounding twice (to 2, then 1) can move the last digit
        return {"method": self.method, "size": self.size, "mean": round(self.mean, 4), "std": round(self.std, 4),
                "scores": [round(s, 2) for s in self.scores], "seeds": self.seeds, "steps": self.steps,
                "lr": self.lr, "trainable_percent": round(self.trainable_percent, 4), "chosen": self.chosen,
                "rows": self.rows}


def without_rates(method: str) -> str:
    """`ptune[injection=deep;lr=0.09;head_lr=0.09]` -> `ptune[injection=deep]`."""
    if "[" not in method:
        return method
    name, rest = method[:-1].split("[", 1)
    kept = [item for item in rest.split(";") if not item.startswith(("lr=", "head_lr="))]
    return f"{name}[{';'.join(kept)}]" if kept else name


def same_rate(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def rates_file(output: Path, data: str) -> Path:
    """Where the rates chosen for one data set's curve live (each task has its own)."""
    return output / f"{data}{RATES_SUFFIX}"


def read_chosen_rates(path: Path) -> dict[str, float] | None:
    if not path.exists():
        return None
    try:
        rates = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError("curve", [f"{path}: not JSON ({err}); expected {{method: learning rate}}"]) from None
    if not isinstance(rates, dict) or not rates or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in rates.values()):
        raise ConfigError("curve", [f"{path}: expected a non-empty {{method: positive "
                                    'learning rate}, e.g. {"peft-lora": 0.0015}'])
    return {without_rates(k): float(v) for k, v in rates.items()}


def read_curve(folders: list[Path], chosen_rates: dict[str, float] | None = None) -> list[CurvePoint]:
    """Every (method, size) with at least one finished seed, from the size grids' cells. With
    `chosen_rates`, a method is a candidate only at its chosen rate, and only if it is listed."""
    from ptune.lab.compare.grid import all_rows

    points = []
    for folder in folders:
        rows = [r for r in all_rows(folder) if "error" not in r]
        protocol = json.loads((folder / "protocol.json").read_text()) if (folder / "protocol.json").exists() else {}
        for method in dict.fromkeys(r["method"] for r in rows):
            runs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
            # a fewshot grid's size is its K per class; a curve's, the rows trained
            size = protocol["train_size"] if protocol.get("per_class") else runs[0]["train_examples"]
            points.append(CurvePoint(method=method, size=size,
                                     scores=[100 * r["dev_score"] for r in runs], seeds=[r["seed"] for r in runs],
                                     steps=runs[0]["steps"], lr=runs[0].get("learning_rates", {}).get("lr"),
                                     trainable_percent=runs[0]["trainable_percent"],
                                     rows=runs[0].get("train_examples")))
    for point in points:
        if chosen_rates is not None and point.lr is not None:  # no held-out choice: not a candidate either
            point.chosen = same_rate(point.lr, chosen_rates.get(without_rates(point.method)))
    return sorted(points, key=lambda p: (p.size, p.method))


def curve_summary(points: list[CurvePoint], *, name: str, protocol: dict, metric: str, backbone: str,
                  backbone_parameters: int | None, inputs: str | None = None, majority: float | None = None) -> dict:
    """`inputs`: what one input of the data is (`text`, `pair`; ptune.tasks.input_forms), so that
    `ptune advise` answers sentence pairs from pair curves only; `majority`: the score, %, of always
    answering the most frequent label of the scored split (classification), what a point must beat."""
    return {"name": name, "task": protocol.get("task", "classification"), "inputs": inputs, "metric": metric,
            "backbone": backbone, "backbone_parameters": backbone_parameters,
            "batch_size": protocol.get("batch_size"), "max_length": protocol.get("max_length"),
            "per_class": bool(protocol.get("per_class")), "dev_data": protocol.get("data"),
            "majority": majority, "points": [p.to_dict() for p in points]}


def curve_inputs(rows: list[dict], protocol: dict) -> str | None:
    """The input form of a curve's data: as its cells recorded it, or else read from the training
    file the protocol names; None when neither says (the data is not on this machine)."""
    recorded = {r["inputs"] for r in rows if r.get("inputs")}
    if len(recorded) == 1:
        return recorded.pop()
    from ptune.data import LoadReport
    from ptune.errors import PtuneError
    from ptune.tasks import get_task

    task = get_task(protocol.get("task", "classification"))
    names = {k: protocol.get(k) for k in ("text_column", "pair_column", "label_column") if k in protocol}
    try:
        return task.input_form_of(task.read(protocol["data"], split="train", report=LoadReport(), **names))
    except (KeyError, OSError, PtuneError):
        return None


def format_curve_table(points: list[CurvePoint], *, title: str, metric: str, order=CURVE_METHODS, label: str = "n") -> str:
    """`label`: what a size counts, `n` rows or `K` rows per class."""
    sizes = sorted({p.size for p in points})
    methods = in_order(points, order)
    cell = {(p.method, p.size): p for p in points}
    chosen = {p.method for p in points if p.chosen}
    lines = [f"# {title}", "",
             f"dev {metric}, % (mean ± std over seeds; the model after the last step, no checkpoint selection)", ""]
    if len(chosen) < len(methods):
        lines += ["Rows in *italics* are not candidates: a rate other than the one chosen for their method on "
                  "held-out training rows, or a method with no held-out choice. They are shown for comparison "
                  "and never picked as best.", ""]
    lines += ["| method | " + " | ".join(f"{label} = {s:,}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for method in methods:
        values = []
        for size in sizes:
            p = cell.get((method, size))
            values.append("—" if p is None else f"{p.mean:.1f} ± {p.std:.1f}" + ("" if len(p.scores) >= 5 else
                                                                               f" ({len(p.scores)} seed{'s' * (len(p.scores) > 1)})"))
        name = method if method in chosen else f"*{method}*"
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    steps = {s: max(p.steps for p in points if p.size == s) for s in sizes}  # the closed-form probe takes none
    lines += ["", "steps per size: " + ", ".join(f"{label} = {s:,}: {steps[s]}" for s in sizes)]
    best = []
    for size in sizes:
        here = [p for p in points if p.size == size and p.chosen]
        if not here:
            continue
        top = max(here, key=lambda p: p.mean)
        best.append(f"{label} = {size:,}: {top.method} ({top.mean:.1f} ± {top.std:.1f})")
    lines += ["", "best per size: " + "; ".join(best), ""]
    return "\n".join(lines)


def in_order(points: list[CurvePoint], order) -> list[str]:
    return curve_order({p.method for p in points}, order)


def curve_order(methods, order=CURVE_METHODS) -> list[str]:
    """Methods in `order`, each method's other-rate rows right after it, unknown methods last."""
    rank = {m: i for i, m in enumerate(order)}
    return sorted(set(methods),
                  key=lambda m: (rank.get(without_rates(m), len(rank)), without_rates(m), m != without_rates(m), m))


def plot_curve(points: list[CurvePoint], path: Path, *, title: str, metric: str, order=CURVE_METHODS) -> bool:
    points = [p for p in points if p.chosen]  # one line per method: the rate chosen on held-out rows
    if not points:
        return False
    from ptune.lab.compare.plots import _pyplot, colours, finish

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    methods = in_order(points, order)
    for method, colour in zip(methods, colours(plt, len(methods))):
        mine = sorted((p for p in points if p.method == method), key=lambda p: p.size)
        axes.errorbar([p.size for p in mine], [p.mean for p in mine], yerr=[p.std for p in mine], label=method,
                      color=colour, marker="o", capsize=3, linewidth=1.4)
    axes.set_xscale("log")
    sizes = sorted({p.size for p in points})
    from matplotlib.ticker import NullLocator

    axes.xaxis.set_minor_locator(NullLocator())  # only the measured sizes, not 3x10^1, 4x10^1, ...
    axes.set_xticks(sizes, [f"{s:,}" for s in sizes])
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return finish(plt, figure, axes, path, title=title, xlabel="labelled training examples (log scale)",
                  ylabel=f"dev {metric}, % (mean ± std over seeds)")


def write_curve_report(output: Path, *, data: str, protocol: ProtocolConfig | None = None,
                       plots: bool = True) -> list[Path]:
    """Read every size grid `<data>-n*` under `output` and write the curve's table, JSON and plot.
    With `protocol`, a size grid run under other settings (another backbone, data or length) is
    left out of the curve, and the table says so: its rows would not be comparable."""
    from ptune.lab.compare.grid import protocol_differences

    size_of = lambda folder: int(folder.name.rsplit("-n", 1)[1])  # noqa: E731
    folders = sorted((f for f in output.glob(f"{data}-n*")
                      if f.name.rsplit("-n", 1)[1].isdigit() and (f / "cells").exists()), key=size_of)
    left_out = {}
    if protocol is not None:
        for folder in folders:
            changed = protocol_differences(folder, size_protocol(protocol, size_of(folder)))
            if changed:
                left_out[folder.name] = changed
        folders = [f for f in folders if f.name not in left_out]
    if not folders:
        raise ConfigError("curve", [f"no size grids named {data}-n<size> with cells/ under {output}"
                                    + (f" run under these settings ({', '.join(left_out)} differ)" if left_out else "")])
    points = read_curve(folders, read_chosen_rates(rates_file(output, data)))
    protocol = json.loads((folders[0] / "protocol.json").read_text())
    metric = "entity F1" if protocol.get("task") == "token_classification" else "accuracy"
    backbone = protocol.get("model") or "bundled all-MiniLM-L6-v2"
    title = f"Learning curve: {data}, {backbone}"
    written = [output / f"{data}-curve.md", output / f"{data}-curve.json"]
    per_class = protocol.get("per_class", False)
    table = format_curve_table(points, title=title + (" (K rows per class)" if per_class else ""), metric=metric,
                               label="K" if per_class else "n")
    for name, changed in left_out.items():
        table += f"\nleft out: {name}, run under other settings (differs in {', '.join(changed)})\n"
    written[0].write_text(table)
    rows = [json.loads(p.read_text()) for f in folders for p in sorted((f / "cells").glob("*.json"))]
    summary = curve_summary(points, name=data, protocol=protocol, metric=metric, backbone=backbone,
                            backbone_parameters=backbone_parameters(rows), inputs=curve_inputs(rows, protocol),
                            majority=next((round(100 * r["dev_majority"], 2) for r in rows if "dev_majority" in r), None))
    written[1].write_text(json.dumps(summary, indent=1) + "\n")
    if plots and plot_curve(points, output / f"{data}-curve.png", title=title, metric=metric):
        written.append(output / f"{data}-curve.png")
    return written


def backbone_parameters(rows: list[dict]) -> int | None:
    """The frozen backbone's size: total minus trained parameters of a row that trains only a
    prompt and a head (ptune, the linear probe)."""
    for row in rows:
        if row.get("base_method") in ("ptune", "linear-probe") and row.get("total_parameters"):
            return row["total_parameters"] - row["trainable_parameters"]
    return None
