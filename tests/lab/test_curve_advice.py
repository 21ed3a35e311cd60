"""`ptune advise` grounded on the learning curves (ptune.lab.curve_advice)."""
import json

import pytest

from conftest import ROOT
from helpers import fake_row, ptune_here as ptune
from ptune.lab.compare.cells import cell_path, read_cell, write_cell
from ptune.lab.compare.curve import rates_file, read_curve, size_folder, size_protocol, write_curve_report
from ptune.lab.compare.grid import check_protocol
from ptune.lab.compare.protocol import ProtocolConfig
from ptune.lab.curve_advice import PACKAGED, advice_table, advise_from_curves, load_curves
from test_curve import fake_curve, rates_of

SCORES = {("ptune[injection=deep]", 32): [0.64, 0.66, 0.62], ("linear-probe", 32): [0.60, 0.61, 0.59],
          ("peft-lora", 32): [0.55, 0.57, 0.56], ("full-ft", 32): [0.60, 0.62, 0.58],
          ("ptune[injection=deep]", 128): [0.75, 0.76, 0.74], ("linear-probe", 128): [0.72, 0.73, 0.71],
          ("peft-lora", 128): [0.78, 0.79, 0.80], ("full-ft", 128): [0.70, 0.71, 0.72]}


@pytest.fixture()
def curves(tmp_path):
    fake_curve(tmp_path, SCORES)
    write_curve_report(tmp_path, data="sst2", plots=False)
    return tmp_path


def test_the_advice_names_the_best_measured_method_with_its_score_and_spread(curves):
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=load_curves(curves))
    assert advice.method == "ptune[injection=deep]" and advice.size == 32
    assert advice.headline().startswith("with 32 labelled examples on this backbone, use ptune[injection=deep]")
    assert "64.0 ± 2.0" in advice.headline() and advice.notes == []


def test_changing_a_cell_changes_the_advice(curves):
    folder = curves / "sst2-n32"
    for seed in range(3):
        path = cell_path(folder, "linear-probe", seed)
        row = read_cell(path)
        write_cell(path, {**row, "dev_score": 0.70, "dev_accuracy": 0.70})
    write_curve_report(curves, data="sst2", plots=False)
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=load_curves(curves))
    assert advice.method == "linear-probe" and advice.mean == pytest.approx(70.0)
    assert any("NOT supported" in line and "n = 32" in line for line in advice.lab_rule)


def test_the_lab_rule_is_judged_size_by_size(curves):
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=100, curves=load_curves(curves))
    assert advice.method == "peft-lora" and advice.size == 128
    assert advice.lab_rule[0].startswith("n = 32: supported, ptune[injection=deep] is best (64.0 ± 2.0), clearly ahead")
    assert advice.lab_rule[1].startswith("n = 128: NOT supported, peft-lora (79.0 ± 1.0) beats the best P-Tuning")
    assert any("lies between the measured n = 32 and n = 128" in note for note in advice.notes)


def test_the_advice_says_where_it_extrapolates(curves):
    (advice,) = advise_from_curves("classification", model_size=340_000_000, train_size=10_000,
                                   curves=load_curves(curves))
    assert advice.size == 128
    assert any(note.startswith("extrapolated: 10,000 examples lies outside") for note in advice.notes)
    assert any("22.7M parameters, yours has 340.0M" in note for note in advice.notes)
    assert advise_from_curves("qa", model_size=1, train_size=1, curves=load_curves(curves)) == []


def test_full_fine_tuning_at_the_top_also_names_the_best_parameter_efficient_method(tmp_path):
    fake_curve(tmp_path, {("full-ft", 32): [0.8, 0.8, 0.8], ("linear-probe", 32): [0.6, 0.6, 0.6]})
    write_curve_report(tmp_path, data="sst2", plots=False)
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=32,
                                   curves=load_curves(tmp_path))
    assert any("best parameter-efficient method here is linear-probe" in note for note in advice.notes)


def test_the_command_prints_the_measured_advice_first(curves):
    result = ptune("advise", "--task", "classification", "--model-size", "22700000", "--train-size", "32",
                   "--curves", curves)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "measured (learning curves):" and "use ptune[injection=deep]" in lines[1]
    assert "the lab's pick (8.2): P-Tuning" in result.stdout
    bad = ptune("advise", "--task", "classification", "--model-size", "1", "--train-size", "1", "--curves",
                curves / "nothing-here")
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr and "Traceback" not in bad.stderr


def test_the_advice_table_has_a_line_per_size(curves):
    (curve,) = load_curves(curves)
    table = advice_table(curve)
    assert "| 32 | ptune[injection=deep] | 64.0 ± 2.0 |" in table and "| 128 | peft-lora | 79.0 ± 1.0 |" in table
    assert advice_table(curve, min_seeds=99).startswith("No measured size has a point with 99 finished seeds yet")


def test_the_advice_takes_each_method_at_its_held_out_rate_never_the_best_rate_on_dev(tmp_path):
    fake_curve(tmp_path, {("peft-lora", 32): [0.80, 0.81, 0.79], ("peft-lora[lr=0.0015;head_lr=0.0015]", 32):
                          [0.60, 0.61, 0.59], ("ptune[injection=deep]", 32): [0.70, 0.71, 0.69]})
    write_curve_report(tmp_path, data="sst2", plots=False)
    (before,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=load_curves(tmp_path))
    assert before.method == "peft-lora"
    rates_file(tmp_path, "sst2").write_text(json.dumps({"peft-lora": 0.0015, "ptune[injection=deep]": 0.005}))
    write_curve_report(tmp_path, data="sst2", plots=False)
    (curve,) = load_curves(tmp_path)
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=[curve])
    assert advice.method == "ptune[injection=deep]" and advice.lab_rule[0].startswith("n = 32: supported")
    assert "| 32 | ptune[injection=deep] | 70.0 ± 1.0 | ptune[injection=deep] (70.0 ± 1.0) |" in advice_table(curve)


def fake_fewshot_curve(root, data: str, scores: dict[tuple[str, int], list[float]], *, classes: int = 2,
                       inputs: str = "text", majority: float = 0.5):
    """Fewshot size grids (sizes are K rows per class) with finished cells, and their curve summary."""
    base = ProtocolConfig(data=f"somewhere/{data}", batch_size=16, per_class=True)
    for (method, k), accuracies in scores.items():
        folder = size_folder(root, base, k)
        check_protocol(folder, size_protocol(base, k, classes))
        for seed, accuracy in enumerate(accuracies):
            write_cell(cell_path(folder, method, seed), fake_row(
                method, seed, accuracy, dev_score=accuracy, train_examples=k * classes, inputs=inputs,
                dev_majority=majority, steps=0 if method in ("setfit", "logistic-probe") else 100,
                total_parameters=22_713_986, trainable_parameters=770, trainable_percent=0.0034,
                learning_rates={"lr": None} if method == "setfit" else rates_of(method)))
    write_curve_report(root, data=data, plots=False)
    return root


def test_a_fewshot_curve_is_sized_in_rows_and_picks_only_the_suites_methods(tmp_path):
    fake_fewshot_curve(tmp_path, "trec", {
        ("ptune", 8): [0.70, 0.72, 0.71], ("setfit", 8): [0.80, 0.82, 0.81],
        ("ptune[head_init=random]", 8): [0.90, 0.90, 0.90],  # an ablation row: shown, never picked
        ("ptune[init_from=elsewhere]", 8): [0.95, 0.95, 0.95],  # a transferred start: a note, never picked
        ("ptune", 16): [0.85, 0.86, 0.84], ("setfit", 16): [0.83, 0.84, 0.82]}, classes=6, majority=0.3)
    (curve,) = load_curves(tmp_path)
    assert curve["per_class"] and curve["inputs"] == "text" and curve["majority"] == 30.0
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=50, curves=[curve])
    assert advice.size == 48 and advice.per_class == 8 and advice.method == "setfit"
    assert "(n = 48, K = 8 per class, 3 seeds, fewshot trec" in advice.headline()
    assert "setfit package at its documented defaults" in advice.headline()
    assert any("best parameter-efficient method here is ptune (71.0" in note for note in advice.notes)
    assert any("ptune[init_from=elsewhere]" in note and "--init-from" in note for note in advice.notes)
    assert "head_init" not in " ".join(advice.notes) + advice.method
    table = advice_table(curve)
    assert "| 48 (K = 8) | setfit | 81.0 ± 1.0 | ptune (71.0 ± 1.0) |" in table
    assert "| 96 (K = 16) | ptune | 85.0 ± 1.0 | ptune (85.0 ± 1.0) |" in table


def test_sentence_pairs_are_answered_from_pair_curves_only(tmp_path):
    fake_curve(tmp_path, SCORES)
    write_curve_report(tmp_path, data="sst2", plots=False)
    fake_fewshot_curve(tmp_path, "rte", {("ptune", 16): [0.55, 0.50, 0.53], ("setfit", 16): [0.47, 0.46, 0.48]},
                       inputs="pair", majority=0.527)
    curves = load_curves(tmp_path)
    (pairs,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=curves, inputs="pair")
    assert pairs.curve == "fewshot rte" and pairs.method == "ptune"
    assert any(note.startswith("no method is clear of the majority class here (52.7") for note in pairs.notes)
    (texts,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=curves)
    assert texts.curve == "sst2-curve" and not any("majority" in note for note in texts.notes)


def test_curves_that_disagree_are_all_shown_the_nearest_size_first(tmp_path):
    fake_curve(tmp_path, SCORES)
    write_curve_report(tmp_path, data="sst2", plots=False)
    fake_fewshot_curve(tmp_path, "trec", {("setfit", 8): [0.8, 0.82, 0.81], ("ptune", 8): [0.6, 0.6, 0.6]},
                       classes=6)
    answers = advise_from_curves("classification", model_size=22_700_000, train_size=36, curves=load_curves(tmp_path))
    assert [a.curve for a in answers] == ["sst2-curve", "fewshot trec"]  # n = 32 is nearer 36 than n = 48
    result = ptune("advise", "--task", "classification", "--model-size", "22700000", "--train-size", "36",
                   "--curves", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  sst2-curve:" in result.stdout and "  fewshot trec:" in result.stdout
    assert "the curves disagree: ptune[injection=deep] on sst2-curve; setfit on fewshot trec" in result.stdout


def test_the_command_answers_pairs_with_the_pair_defaults(tmp_path):
    fake_fewshot_curve(tmp_path, "rte", {("ptune", 16): [0.55, 0.50, 0.53]}, inputs="pair")
    pairs = ptune("advise", "--task", "classification", "--model-size", "22700000", "--train-size", "32",
                  "--inputs", "pair", "--curves", tmp_path)
    assert pairs.returncode == 0, pairs.stderr
    assert "fewshot rte" in pairs.stdout and "encoder=mlp, ptune_lr=0.0001" in pairs.stdout
    texts = ptune("advise", "--task", "classification", "--model-size", "22700000", "--train-size", "32",
                  "--curves", tmp_path)
    assert texts.returncode == 0, texts.stderr
    assert "no learning curve covers classification;" in texts.stdout and "encoder=embedding" in texts.stdout


COMMITTED = ROOT / "benchmarks" / "results"
PACKAGED_FROM = {"": COMMITTED / "curves", "fewshot-": COMMITTED / "fewshot"}
"""Packaged file name prefix -> the results folder its curve is read from (benchmarks/curve_report.py)."""


@pytest.mark.skipif(not (COMMITTED / "curves").exists(), reason="the committed curve grids are not in this checkout")
def test_the_packaged_curves_are_what_the_committed_cells_give():
    """ptune advise ships summaries of benchmarks/results/{curves,fewshot}: every number in them must
    be what the committed cells of those seeds give (a grid still running may have added seeds since)."""
    for packaged in sorted(PACKAGED.glob("*-curve.json")):
        prefix = "fewshot-" if packaged.name.startswith("fewshot-") else ""
        data = packaged.name[len(prefix): -len("-curve.json")]
        folders = sorted(f for f in PACKAGED_FROM[prefix].glob(f"{data}-n*") if (f / "cells").exists())
        measured = {(p.method, p.size): p for p in read_curve(folders)}
        for point in json.loads(packaged.read_text())["points"]:
            cells = measured[(point["method"], point["size"])]
            by_seed = dict(zip(cells.seeds, cells.scores))
            assert set(point["seeds"]) <= set(by_seed), f"{packaged}: {point['method']} n={point['size']} seeds"
            assert point["scores"] == [round(by_seed[s], 2) for s in point["seeds"]], f"{packaged} is stale"


def test_the_packaged_curves_answer_every_task_they_cover():
    """NER's curve records its input form as `words`: it must still answer `--task ner`."""
    curves = load_curves()
    assert [a.curve for a in advise_from_curves("ner", model_size=22_700_000, train_size=200, curves=curves)] \
        == ["conll2003-curve"]
    assert len(advise_from_curves("classification", model_size=22_700_000, train_size=64, curves=curves)) == 4
    (pairs,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=curves, inputs="pair")
    assert pairs.curve == "fewshot rte"


def test_a_method_missing_at_a_size_is_named_where_the_pick_is_made_without_it(tmp_path):
    fake_curve(tmp_path, {key: scores for key, scores in SCORES.items() if key != ("peft-lora", 128)})
    write_curve_report(tmp_path, data="sst2", plots=False)
    curve = load_curves(tmp_path)
    (advice,) = advise_from_curves("classification", model_size=22_700_000, train_size=128, curves=curve)
    assert advice.method == "ptune[injection=deep]"  # LoRA, the best at 128 when run, is not there to win
    assert any(note.startswith("not measured at n = 128") and "peft-lora" in note for note in advice.notes)
    assert advice.lab_rule[1].endswith("; not run here: peft-lora") and "not run here" not in advice.lab_rule[0]
    table = advice_table(curve[0]).splitlines()
    assert table[-1].endswith("(peft-lora not run here) |") and "not run here" not in table[-2]
    (at_32,) = advise_from_curves("classification", model_size=22_700_000, train_size=32, curves=curve)
    assert not any("not measured" in note for note in at_32.notes)
