"""`ptune advise`: the seed lab's method choice (section 8.2) and hyper-parameter guidance
(sections 4.2, 7.2, 8.1), with reasons, checked against measured grids where they exist.

The lab's rules are kept as written, including where they are odd (its small-data rule can never
fire for the tasks it lists first); measured results are quoted beside each rule and a rule the
measurements contradict is flagged, not hidden.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ptune.errors import ConfigError

TASKS = ("classification", "ner", "qa", "generation")
INPUTS = ("text", "pair")
NLU_TASKS = ("classification", "ner", "qa")
ONE_BILLION = 1_000_000_000
SMALL_DATA = 1000
METHOD_FOR_LAB_NAME = {"P-Tuning": "ptune", "Prompt Tuning": "peft-prompt", "Prefix Tuning": "peft-prefix",
                       "LoRA": "peft-lora"}
PTUNE_TASKS = {"classification": "classification", "ner": "token_classification", "qa": "question_answering"}
"""The advice's tasks that ptune trains, and its task for each; generation it does not."""
MEASURED_TASKS = ("classification", "token_classification")
"""Tasks whose defaults were measured (QA's are NER's: SQuAD's training set was out of reach)."""
PTUNE_VARIANTS = ("ptune[injection=deep]", "ptune[injection=input]")


@dataclass
class Advice:
    method: str
    """The lab's pick: P-Tuning, Prompt Tuning, Prefix Tuning or LoRA."""
    reasons: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    """Suggested P-tuning settings (virtual tokens, encoder depth, learning rate, dropout)."""
    evidence: list[str] = field(default_factory=list)
    """Measured numbers that bear on the advice."""
    contradictions: list[str] = field(default_factory=list)
    """Where the measurements disagree with the lab's rule."""
    measured: list = field(default_factory=list)
    """What each of ptune's learning curves of this task and input form measured best at this
    training size (ptune.lab.curve_advice.CurveAdvice); empty where no curve covers it."""
    task: str = ""
    inputs: str = "text"


def lab_method(task: str, model_size: int, train_size: int) -> tuple[str, str]:
    """The decision tree of section 8.2, in its order: task first, then model size, then data."""
    if task in NLU_TASKS:
        if model_size < ONE_BILLION:
            return "P-Tuning", (f"{task} is an understanding (NLU) task on a model under 1B parameters "
                                f"({model_size:,}): the lab's first choice is P-Tuning (8.2)")
        return "Prompt Tuning", (f"{task} on a model of {model_size:,} parameters (>= 1B): the lab expects "
                                 "prompt tuning to work as well there with fewer parameters (8.2)")
    if task == "generation":
        return "Prefix Tuning", "generation: the lab recommends prefix tuning for generation and summarisation (8.2)"
    if train_size < SMALL_DATA:
        return "P-Tuning", f"{train_size:,} training examples (< {SMALL_DATA:,}): P-Tuning trains stably (8.2)"
    return "LoRA", "otherwise LoRA, the most general choice (8.2)"


def lab_settings(task: str, train_size: int) -> tuple[dict, list[str]]:
    """P-tuning settings from the lab's tables 4.2, 7.2 and 8.1."""
    reasons = []
    if task == "classification":
        settings = {"num_virtual_tokens": "10-20", "depth": "1-2", "lr": 1e-3}
        reasons.append("simple classification: 5-10 virtual tokens, a 1-2 layer MLP, lr 1e-3 (7.2); "
                       "text classification: 10-20 virtual tokens (8.1)")
    elif task == "ner":
        settings = {"num_virtual_tokens": "20-30", "depth": "2-3", "lr": 5e-4}
        reasons.append("sequence labelling wants more virtual tokens, 20-30 (8.1); a complex understanding task: "
                       "a 2-3 layer MLP, lr 5e-4 (7.2)")
    elif task == "qa":
        settings = {"num_virtual_tokens": "15-30", "depth": "2-3", "lr": 5e-4}
        reasons.append("reading comprehension: a deeper MLP encoder (8.1); 15-30 virtual tokens, 2-3 layers, "
                       "lr 5e-4 (7.2)")
    else:
        settings = {"num_virtual_tokens": "20-50", "depth": "2-3", "lr": 5e-4}
        reasons.append("generation is outside the lab's P-tuning tables; the general ranges apply: 5-50 virtual "
                       "tokens, start small and grow (4.2)")
    settings["hidden_mult"] = 2
    reasons.append("MLP hidden width 2x the backbone's hidden size; learning rates 1e-4 to 1e-2, above full "
                   "fine-tuning's, with decay (4.2)")
    if train_size < SMALL_DATA:
        settings["dropout"] = 0.3
        reasons.append(f"small data ({train_size:,} examples): fewer parameters and higher dropout, 0.3 (4.2, 8.1)")
    else:
        settings["dropout"] = 0.1
    return settings, reasons


# ---- measured evidence -------------------------------------------------------------------
def load_grid(folder: Path) -> tuple[list[dict], str]:
    """The finished rows of a compare/ablate grid folder, and a name for its protocol."""
    from ptune.lab.compare.grid import all_rows

    if not (folder / "cells").exists():
        raise ConfigError("--results", [f"{folder} is not a ptune compare/ablate output folder (no cells/ in it)"])
    rows = [r for r in all_rows(folder) if "error" not in r]
    protocol = json.loads((folder / "protocol.json").read_text()) if (folder / "protocol.json").exists() else {}
    name = f"{Path(str(protocol.get('data', folder))).name} ({protocol.get('model') or 'bundled MiniLM-L6'})"
    return rows, name


def measured(rows: list[dict], method: str) -> tuple[float, float, float, int] | None:
    """(mean acc, std, trainable %, seeds) for a method string, over its finished seeds."""
    import statistics

    runs = [r for r in rows if r["method"] == method]
    if not runs:
        return None
    accuracies = [100 * r["dev_score"] for r in runs]
    std = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return statistics.mean(accuracies), std, runs[0]["trainable_percent"], len(runs)


def describe(name: str, numbers) -> str:
    mean, std, share, seeds = numbers
    spread = f" ± {std:.1f}" if seeds > 1 else " (1 seed)"
    return f"{name} {mean:.1f}{spread} at {share:.2g}% of the parameters"


def check_against(advice: Advice, rows: list[dict], protocol: str) -> None:
    """Quote the measurements and flag where they contradict the lab's pick."""
    chosen = METHOD_FOR_LAB_NAME[advice.method]
    if chosen == "ptune" and measured(rows, chosen) is None and "injection" in advice.settings:
        chosen = f"ptune[injection={advice.settings['injection']}]"  # the default, as a grid names it
    mine = measured(rows, chosen)
    others = {m: measured(rows, m) for m in ("peft-lora", "peft-prefix", "peft-prompt", "peft-ptuning", "bitfit",
                                             "full-ft", "linear-probe", "ptune", *PTUNE_VARIANTS) if m != chosen}
    others = {m: n for m, n in others.items() if n is not None}
    if mine is None:
        if others:
            advice.evidence.append(f"on {protocol} the pick ({chosen}) was not measured; measured: "
                                   + "; ".join(describe(m, n) for m, n in others.items()))
        return
    lora = others.get("peft-lora")
    line = f"on {protocol} {describe(chosen, mine)}"
    if lora:
        line += f", vs {describe('LoRA', lora)}"
    advice.evidence.append(line)
    probe = measured(rows, "linear-probe")
    if probe and chosen.startswith("ptune"):
        advice.evidence.append(f"the prompt adds {mine[0] - probe[0]:+.1f} points over a linear probe on the same "
                               f"frozen backbone ({probe[0]:.1f})")
    if chosen == "ptune":
        precision_evidence(advice, rows, protocol, mine)
    for variant in (m for m in PTUNE_VARIANTS if m in others):
        advice.evidence.append(f"ptune's other injection on {protocol}: {describe(variant, others[variant])}")
    # ptune's own variants are the same method (P-Tuning) and do not contradict the pick.
    parameter_efficient = {m: n for m, n in others.items() if m != "full-ft" and not m.startswith("ptune")}
    if not parameter_efficient:
        return
    best_name, best = max(parameter_efficient.items(), key=lambda item: item[1][0])
    margin = best[0] - mine[0]
    noise = max(mine[1], best[1], 0.5)
    if margin > noise:
        advice.contradictions.append(
            f"the measurements contradict the lab's rule here: {best_name} beat {chosen} by {margin:.1f} points "
            f"on {protocol} (more than the seed spread, {noise:.1f}); consider {best_name}")
    elif margin > 0:
        advice.evidence.append(f"{best_name} was {margin:.1f} points ahead, within the seed spread ({noise:.1f}): "
                               "no clear winner")
    ablation_tokens = {r["settings"].get("num_virtual_tokens"): 100 * r["dev_score"] for r in rows
                       if r.get("base_method") == "ptune" and set(r.get("settings", {})) == {"num_virtual_tokens"}}
    if ablation_tokens and mine:
        best_k = max(ablation_tokens, key=ablation_tokens.get)
        advice.evidence.append(f"virtual-token sweep on {protocol}: best k = {best_k} "
                               f"({ablation_tokens[best_k]:.1f}; k = 20 default {mine[0]:.1f})")


def precision_evidence(advice: Advice, rows: list[dict], protocol: str, default) -> None:
    """Where a grid ran ptune both at its default precision and in fp32: what the default costs
    in accuracy and gains in training speed."""
    import statistics

    fp32 = measured(rows, "ptune[precision=fp32]")
    precision = next((r.get("precision") for r in rows if r["method"] == "ptune"), None)
    if fp32 is None or precision != "bf16":
        return
    speed = {m: statistics.median(r["train_samples_per_s"] for r in rows if r["method"] == m)
             for m in ("ptune", "ptune[precision=fp32]")}
    line = (f"precision on {protocol}: bf16 (the default on this hardware) {default[0]:.1f} ± {default[1]:.1f} vs "
            f"fp32 {fp32[0]:.1f} ± {fp32[1]:.1f}, training {speed['ptune'] / speed['ptune[precision=fp32]']:.1f}x faster")
    gap = fp32[0] - default[0]
    # Two standard errors of the difference of the two means: on sst2-minilm a change of attention
    # kernel alone (1e-6 apart) moved fp32's 10-seed mean by 0.4 points, so small gaps are noise.
    noise = 2 * math.sqrt(default[1] ** 2 / max(default[3], 1) + fp32[1] ** 2 / max(fp32[3], 1))
    if gap > max(noise, 0.5):
        line += f"; bf16 cost {gap:.1f} points (more than seed noise, {noise:.1f}): pick --precision fp32 when the last point matters"
    elif gap > 0.5:
        line += (f"; bf16 scored {gap:.1f} points lower, within seed noise (two standard errors: {noise:.1f}); "
                 "more seeds would tell whether bf16 costs anything")
    else:
        line += "; no accuracy lost to bf16 beyond 0.5 points"
    advice.evidence.append(line)


def advise(task: str, *, model_size: int, train_size: int, results: list[Path] = (),
           curves: Path | None = None, inputs: str = "text") -> Advice:
    """`inputs`: what one input is, `text` or `pair` (sentence pairs, classification only)."""
    if task not in TASKS:
        raise ConfigError("advise", [f"task={task!r}: expected one of {TASKS}"])
    if model_size < 1 or train_size < 1:
        raise ConfigError("advise", ["--model-size and --train-size are counts, expected >= 1"])
    if inputs not in INPUTS:
        raise ConfigError("advise", [f"inputs={inputs!r}: expected one of {INPUTS}"])
    if inputs == "pair" and task != "classification":
        raise ConfigError("advise", [f"--inputs pair is for classification of sentence pairs; {task} takes "
                                     "single texts: leave out --inputs"])
    from ptune.lab.curve_advice import advise_from_curves, load_curves

    method, reason = lab_method(task, model_size, train_size)
    advice = Advice(method=method, reasons=[reason], task=task, inputs=inputs)
    advice.measured = advise_from_curves(task, model_size=model_size, train_size=train_size,
                                         curves=load_curves(curves), inputs=inputs)
    if method in ("P-Tuning", "Prompt Tuning") and task not in PTUNE_TASKS:
        advice.reasons.append(f"ptune has no {task} task yet, so it cannot train this; the lab's general choice "
                              "applies instead: LoRA (PEFT)")
        advice.method = method = "LoRA"
    elif method == "Prefix Tuning":
        advice.reasons.append("ptune adapts encoders for understanding tasks and cannot train generation; "
                              "use PEFT's prefix tuning on a generative model")
    if task in NLU_TASKS and train_size < SMALL_DATA:
        advice.reasons.append(f"the lab's small-data rule (< {SMALL_DATA:,} examples -> P-Tuning) sits after the task "
                              "test in its tree, so for this task it never decides; it would agree with P-Tuning")
    if method in ("P-Tuning", "Prompt Tuning"):
        advice.settings, reasons = lab_settings(task, train_size)
        advice.reasons += reasons
        measured_defaults(advice, PTUNE_TASKS[task], prompt_tuning=method == "Prompt Tuning", inputs=inputs)
    for folder in results:
        rows, protocol = load_grid(Path(folder))
        check_against(advice, rows, protocol)
    return advice


def measured_defaults(advice: Advice, task: str, *, prompt_tuning: bool, inputs: str = "text") -> None:
    """ptune's own defaults, measured off dev (ptune.defaults), beside the lab's guidance."""
    from ptune.defaults import default_encoder, default_injection, default_learning_rate, encoder_depends_on_inputs

    injection = default_injection(task)
    encoder = "embedding" if prompt_tuning else default_encoder(injection, task, inputs).name
    lr = default_learning_rate(task, injection, encoder)
    advice.settings.update(injection=injection, encoder=encoder, ptune_lr=lr)
    if encoder_depends_on_inputs(task, injection) and not prompt_tuning:
        advice.reasons.append(
            f"ptune picks the encoder of {injection} prompts from the training rows: "
            + ("sentence pairs get prompts made by the MLP encoder at lr 1e-4 (RTE dev 56.9 ± 0.2 against 52.8 ± 1.8 "
               "for free rows; BENCHMARKS.md, \"Screens at full size\")" if inputs == "pair" else
               "single texts get free prompt rows (pairs would get the MLP encoder: --inputs pair)"))
    if task in MEASURED_TASKS:
        advice.reasons.append(f"ptune's measured default for {task}: {injection} prompts at lr {lr:g} "
                              f"(chosen on held-out training data; BENCHMARKS.md); the lab's lr is for its own setup")
    else:
        advice.reasons.append(f"ptune's default for {task}: {injection} prompts at lr {lr:g}, taken from NER and "
                              f"NOT measured on {task} (its training data was out of reach); tune lr on held-out data")
    if prompt_tuning:
        advice.reasons.append("in ptune, prompt tuning is `--encoder embedding` (free prompt rows, no encoder)")
    advice.settings["command"] = (f"ptune train --task {task} --injection {injection}"
                                  + (" --encoder embedding" if prompt_tuning else "") + " --data ... --output ...")


def format_advice(advice: Advice) -> str:
    from ptune.lab.curve_advice import format_curve_advice

    lines = format_curve_advice(advice.measured, advice.task, advice.inputs) + [
        "", f"the lab's pick (8.2): {advice.method}", "", "why:"]
    lines += [f"  - {r}" for r in advice.reasons]
    if advice.settings:
        lines += ["", "settings: " + ", ".join(f"{k}={v}" for k, v in advice.settings.items())]
    if advice.evidence:
        lines += ["", "measured:"] + [f"  - {e}" for e in advice.evidence]
    if advice.contradictions:
        lines += ["", "caution:"] + [f"  - {c}" for c in advice.contradictions]
    return "\n".join(lines)
