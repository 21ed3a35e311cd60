"""Learning curves (ptune.lab.compare.curve): the step budget per size, nested subsets, one grid per
size, and the curve's table, JSON and plot read from the cells."""
import dataclasses
import json

import pytest

from conftest import DEMO
from helpers import fake_row, ptune_here as ptune
from ptune.errors import ConfigError, PtuneError
from ptune.lab.compare.cells import cell_path, write_cell
from ptune.lab.compare.curve import (CURVES, parse_sizes, rates_file, read_curve, size_folder, size_protocol,
                                     steps_for, without_rates, write_curve_report)
from ptune.lab.compare.grid import check_protocol
from ptune.lab.compare.protocol import ProtocolConfig


def test_the_step_budget_is_max_100_or_4_epochs_capped_at_1000():
    assert [steps_for(n, 16) for n in (32, 128, 512, 2048)] == [100, 100, 128, 512]
    assert [steps_for(n, 16) for n in (50, 200, 1000)] == [100, 100, 252]
    assert steps_for(10_000, 16) == 1000


def test_a_size_protocol_trains_its_budget_and_evaluates_once():
    base = ProtocolConfig(data="d", batch_size=16, max_length=66)
    for size in (32, 128, 512, 2048):
        protocol = size_protocol(base, size)
        batches = -(-size // 16)
        assert protocol.train_size == size and round(protocol.epochs * batches) == steps_for(size, 16)
        assert protocol.eval_every == steps_for(size, 16)


def test_subsets_are_deterministic_per_seed_and_nested_across_sizes():
    base = ProtocolConfig(data=str(DEMO), batch_size=16)
    small, _, _ = size_protocol(base, 8).examples(seed=3)
    large, _, _ = size_protocol(base, 32).examples(seed=3)
    again, _, _ = size_protocol(base, 8).examples(seed=3)
    other, _, _ = size_protocol(base, 8).examples(seed=4)
    assert [e.text for e in small] == [e.text for e in again] == [e.text for e in large[:8]]
    assert [e.text for e in small] != [e.text for e in other]


def test_the_curve_presets_are_the_benchmark_protocols():
    assert CURVES["sst2-curve"].sizes == (32, 128, 512, 2048) and CURVES["sst2-curve"].max_length == 66
    assert CURVES["conll-curve"].sizes == (50, 200, 1000) and CURVES["conll-curve"].task == "token_classification"


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="comma-separated positive counts"):
        parse_sizes("32,zero")
    assert parse_sizes("128,32,32") == [32, 128]


def rates_of(method: str) -> dict:
    if method.startswith("logistic-probe"):
        return {"lr": None, "head_lr": None}  # fitted in closed form
    settings = dict(item.split("=", 1) for item in method.rstrip("]").partition("[")[2].split(";") if "=" in item)
    lr = float(settings.get("lr", 5e-3))
    return {"lr": lr, "head_lr": float(settings.get("head_lr", lr))}


def fake_curve(root, scores: dict[tuple[str, int], list[float]]):
    """Size grids with finished cells: {(method, size): [accuracy per seed]}."""
    base = ProtocolConfig(data="somewhere/sst2", batch_size=16, max_length=66)
    for (method, size), accuracies in scores.items():
        folder = size_folder(root, base, size)
        check_protocol(folder, size_protocol(base, size))
        for seed, accuracy in enumerate(accuracies):
            write_cell(cell_path(folder, method, seed), fake_row(
                method, seed, accuracy, dev_score=accuracy, train_examples=size,
                steps=0 if method.startswith("logistic-probe") else steps_for(size, 16),
                total_parameters=22_713_986, trainable_parameters=770, trainable_percent=0.0034,
                learning_rates=rates_of(method)))
    return root


def test_the_curve_report_reads_every_size_grid(tmp_path):
    fake_curve(tmp_path, {("ptune[injection=deep]", 32): [0.6, 0.7, 0.65], ("linear-probe", 32): [0.62, 0.6, 0.61],
                          ("ptune[injection=deep]", 128): [0.75, 0.77, 0.76], ("linear-probe", 128): [0.7, 0.7, 0.7]})
    written = write_curve_report(tmp_path, data="sst2")
    assert [p.name for p in written] == ["sst2-curve.md", "sst2-curve.json", "sst2-curve.png"]
    table = written[0].read_text()
    assert "| ptune[injection=deep] | 65.0 ± 5.0 (3 seeds) | 76.0 ± 1.0 (3 seeds) |" in table
    assert "steps per size: n = 32: 100, n = 128: 100" in table
    summary = json.loads(written[1].read_text())
    assert summary["task"] == "classification" and summary["backbone_parameters"] == 22_713_986 - 770
    point = next(p for p in summary["points"] if p["method"] == "linear-probe" and p["size"] == 128)
    assert point["mean"] == pytest.approx(70.0) and point["seeds"] == [0, 1, 2] and point["steps"] == 100


def test_a_size_grid_under_other_settings_is_left_out_of_the_curve_and_named(tmp_path):
    fake_curve(tmp_path, {("linear-probe", 32): [0.6, 0.62], ("linear-probe", 128): [0.7, 0.72]})
    base = ProtocolConfig(data="somewhere/sst2", batch_size=16, max_length=66)
    other = dataclasses.replace(base, model="some/other-backbone")
    folder = size_folder(tmp_path, base, 512)
    check_protocol(folder, size_protocol(other, 512))
    write_cell(cell_path(folder, "linear-probe", 0), fake_row("linear-probe", 0, 0.9, dev_score=0.9, train_examples=512,
                                                                  steps=128, trainable_percent=0.0034))
    table = write_curve_report(tmp_path, data="sst2", protocol=base, plots=False)[0].read_text()
    assert "n = 32" in table and "n = 128" in table and "n = 512" not in table
    assert "left out: sst2-n512, run under other settings (differs in model)" in table
    with pytest.raises(ConfigError, match="sst2-n32, sst2-n128, sst2-n512 differ"):
        write_curve_report(tmp_path, data="sst2", protocol=dataclasses.replace(base, max_length=32))
    assert "n = 512" in write_curve_report(tmp_path, data="sst2", plots=False)[0].read_text()  # no settings: all


def test_a_failed_cell_is_left_out_of_the_curve_not_scored(tmp_path):
    fake_curve(tmp_path, {("linear-probe", 32): [0.6, 0.62]})
    folder = size_folder(tmp_path, ProtocolConfig(data="x/sst2"), 32)
    write_cell(cell_path(folder, "linear-probe", 2), {"method": "linear-probe", "seed": 2, "error": "boom"})
    (point,) = read_curve([folder])
    assert point.seeds == [0, 1]


def test_compare_runs_a_curve_with_one_grid_per_size(tiny_backbone_dir, tmp_path):
    args = ["compare", "--model", tiny_backbone_dir, "--data", DEMO, "--train-sizes", "16,32", "--max-length", "32",
            "--seeds", "0", "--methods", "linear-probe", "--output", tmp_path, "--precision", "fp32"]
    first = ptune(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "| linear-probe |" in first.stdout and "n = 16" in first.stdout and "n = 32" in first.stdout
    for size in (16, 32):
        protocol = json.loads((tmp_path / f"resources-n{size}" / "protocol.json").read_text())
        assert protocol["train_size"] == size and protocol["eval_every"] == 100
        (cell,) = (tmp_path / f"resources-n{size}" / "cells").glob("*.json")
        assert json.loads(cell.read_text())["steps"] == 100
    assert (tmp_path / "resources-curve.png").exists()
    again = ptune(*[a if a != "16,32" else "32" for a in args])  # one size again
    assert again.returncode == 0 and again.stderr.count("skip") == 1  # resumable
    assert "n = 16" in again.stdout and "n = 16" in (tmp_path / "resources-curve.md").read_text()  # the other kept


def test_a_curve_refuses_a_fixed_size_or_budget(tiny_backbone_dir, tmp_path):
    result = ptune("compare", "--data", DEMO, "--protocol", "sst2-curve", "--epochs", "3", "--output", tmp_path)
    assert result.returncode != 0 and "a learning curve sets the training size and its step budget" in result.stderr


def test_rows_at_a_rate_not_chosen_on_held_out_rows_are_shown_but_never_best(tmp_path):
    fake_curve(tmp_path, {("peft-lora", 32): [0.80, 0.80], ("peft-lora[lr=0.0015;head_lr=0.0015]", 32): [0.60, 0.62],
                          ("linear-probe", 32): [0.70, 0.70], ("full-ft", 32): [0.9]})
    rates_file(tmp_path, "sst2").write_text(json.dumps({"peft-lora": 0.0015, "linear-probe": 0.005}))
    table_path, summary_path, _ = write_curve_report(tmp_path, data="sst2")
    table = table_path.read_text()
    assert "| *peft-lora* | 80.0 ± 0.0 (2 seeds) |" in table and "| *full-ft* | 90.0 ± 0.0 (1 seed) |" in table
    assert "| peft-lora[lr=0.0015;head_lr=0.0015] | 61.0 ± 1.4 (2 seeds) |" in table
    assert table.index("*peft-lora*") < table.index("peft-lora[lr=") < table.index("linear-probe")
    assert "best per size: n = 32: linear-probe (70.0 ± 0.0)" in table
    chosen = {p["method"]: p["chosen"] for p in json.loads(summary_path.read_text())["points"]}
    assert chosen == {"peft-lora": False, "peft-lora[lr=0.0015;head_lr=0.0015]": True, "linear-probe": True,
                      "full-ft": False}


def test_without_a_rates_file_every_row_is_a_candidate(tmp_path):
    fake_curve(tmp_path, {("peft-lora", 32): [0.80, 0.80], ("peft-lora[lr=0.0015;head_lr=0.0015]", 32): [0.6, 0.6]})
    (point_default, point_tuned) = read_curve([size_folder(tmp_path, ProtocolConfig(data="x/sst2"), 32)])
    assert point_default.chosen and point_tuned.chosen
    assert without_rates("ptune[injection=deep;lr=0.009;head_lr=0.009]") == "ptune[injection=deep]"
    assert without_rates("peft-lora[lr=0.0015;head_lr=0.0015]") == "peft-lora"


def test_a_malformed_rates_file_is_refused_clearly(tmp_path):
    fake_curve(tmp_path, {("linear-probe", 32): [0.6, 0.62]})
    for bad in ('{"linear-probe": "fast"}', "{}", '{"linear-probe": -1}', '{"linear-probe": true}', "[1]"):
        rates_file(tmp_path, "sst2").write_text(bad)
        with pytest.raises(ConfigError, match="expected a non-empty {method: positive learning rate}"):
            write_curve_report(tmp_path, data="sst2")
    rates_file(tmp_path, "sst2").write_text("")
    with pytest.raises(ConfigError, match="not JSON"):
        write_curve_report(tmp_path, data="sst2")


def test_a_method_without_a_learning_rate_is_always_a_candidate(tmp_path):
    fake_curve(tmp_path, {("logistic-probe", 32): [0.75, 0.73], ("linear-probe", 32): [0.70, 0.70]})
    rates_file(tmp_path, "sst2").write_text(json.dumps({"linear-probe": 0.005}))
    table = write_curve_report(tmp_path, data="sst2", plots=False)[0].read_text()
    assert "| logistic-probe | 74.0 ± 1.4 (2 seeds) |" in table and "best per size: n = 32: logistic-probe" in table
    assert "steps per size: n = 32: 100" in table  # the closed-form fit's 0 steps are not the size's budget


def test_each_data_set_reads_its_own_rates_file(tmp_path):
    fake_curve(tmp_path, {("peft-lora", 32): [0.80, 0.80], ("linear-probe", 32): [0.70, 0.70]})
    rates_file(tmp_path, "conll2003").write_text(json.dumps({"linear-probe": 0.005}))  # not sst2's
    table = write_curve_report(tmp_path, data="sst2", plots=False)[0].read_text()
    assert "best per size: n = 32: peft-lora" in table and "*" not in table


def test_report_only_rewrites_each_size_table_in_the_curves_order_and_the_whole_curve(tmp_path):
    fake_curve(tmp_path, {("linear-probe", 32): [0.6, 0.62], ("ptune[injection=deep]", 32): [0.7, 0.72],
                          ("linear-probe", 128): [0.7, 0.72]})
    result = ptune("compare", "--protocol", "sst2-curve", "--data", "somewhere/sst2", "--output", tmp_path,
                   "--report-only", "--no-plots")
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "sst2-n32" / "table.md").read_text()
    assert table.index("| ptune[injection=deep] |") < table.index("| linear-probe |")
    assert "n = 32" in result.stdout and "n = 128" in result.stdout


def test_a_grid_extends_with_another_number_of_timed_passes_but_not_another_budget(tmp_path):
    base = ProtocolConfig(data="somewhere/sst2", batch_size=16, max_length=66)
    check_protocol(tmp_path, base)
    check_protocol(tmp_path, dataclasses.replace(base, eval_repeats=1))  # timing only: same scores
    with pytest.raises(PtuneError, match="differs in \\['batch_size'\\]"):
        check_protocol(tmp_path, dataclasses.replace(base, batch_size=32))
