"""The fewshot suite: K rows per class drawn per seed (nested), the scoring split, the step budget
of K x classes, and SetFit as a compare cell."""
import json

import pytest

from conftest import DEMO
from ptune.errors import ConfigError
from ptune.lab.compare.cell import run_cell
from ptune.lab.compare.curve import CURVES, FEWSHOT_METHODS, size_protocol, steps_for
from ptune.lab.compare.protocol import ProtocolConfig, per_class_draw


def test_per_class_draws_are_nested_seeded_and_give_all_of_a_small_class():
    labels = ["a"] * 10 + ["b"] * 3 + ["a"] * 5
    four = per_class_draw(labels, 4, seed=0)
    eight = per_class_draw(labels, 8, seed=0)
    assert [labels[i] for i in four].count("a") == 4 and [labels[i] for i in four].count("b") == 3
    assert set(four) <= set(eight) and four == sorted(four)
    assert [labels[i] for i in eight].count("a") == 8
    assert per_class_draw(labels, 4, seed=1) != four
    assert per_class_draw(labels, 4, seed=0) == four


def test_a_fewshot_grid_trains_k_per_class_with_the_budget_of_its_rows():
    base = ProtocolConfig(data=str(DEMO), batch_size=16, per_class=True)
    protocol = size_protocol(base, 8)  # the demo file has two classes: 16 rows
    train, _, labels = protocol.examples(seed=2)
    assert len(train) == 16 and sorted(e.label for e in train).count(labels.names[0]) == 8
    assert round(protocol.epochs * 1) == steps_for(16, 16) == protocol.eval_every == 100
    assert CURVES["fewshot"].sizes == (8, 16, 32, 64) and CURVES["fewshot"].per_class
    assert "setfit" in FEWSHOT_METHODS and "ptune" in FEWSHOT_METHODS


def test_per_class_draws_and_the_scoring_split_are_checked():
    with pytest.raises(ConfigError, match="per_class=True draws K rows per class"):
        ProtocolConfig(data="d", per_class=True, task="token_classification")
    with pytest.raises(ConfigError, match="eval_split='val'"):
        ProtocolConfig(data="d", eval_split="val")


def test_a_data_set_without_a_dev_split_is_scored_on_its_test_file(tmp_path):
    from ptune.cli import build_parser
    from ptune.lab.compare.commands import protocol_from_args

    lines = (DEMO / "train.tsv").read_text().splitlines(keepends=True)
    (tmp_path / "train.tsv").write_text("".join(lines[:100]))
    (tmp_path / "test.tsv").write_text("".join(lines[:1] + lines[100:]))
    args = build_parser().parse_args(["compare", "--protocol", "fewshot", "--data", str(tmp_path), "--output", "o"])
    protocol = protocol_from_args(args)
    assert protocol.eval_split == "test" and protocol.per_class
    _, scored, _ = size_protocol(protocol, 4).examples(seed=0)
    assert len(scored) == len(lines) - 100
    args = build_parser().parse_args(["compare", "--protocol", "fewshot", "--data", str(DEMO), "--output", "o"])
    assert protocol_from_args(args).eval_split == "dev"


def test_setfit_cell_trains_its_body_and_head_and_scores_on_the_grids_features(tiny_backbone_dir, tmp_path):
    protocol = ProtocolConfig(data=str(DEMO), model=str(tiny_backbone_dir), train_size=4, per_class=True,
                              batch_size=16, max_length=32, precision="fp32", eval_repeats=1)
    row = run_cell(protocol, "setfit", seed=0)
    assert "error" not in row, row.get("error")
    assert row["train_examples"] == 8 and row["steps"] == 0 and 0.0 <= row["dev_accuracy"] <= 1.0
    fit = row["closed_form_fit"]
    assert fit["sampling_strategy"] == "oversampling" and fit["num_epochs"] == 1 and fit["train_texts"] == 8
    # SetFit trains and ships the whole body
    assert row["trainable_parameters"] == row["total_parameters"] and row["inference_bytes"] > 100_000
    with pytest.raises(ConfigError, match="documented defaults"):
        run_cell(protocol, "setfit[num_iterations=20]", seed=0)


def test_a_method_naming_a_path_gets_one_cell_file_in_cells():
    from pathlib import Path

    from ptune.lab.compare.cells import cell_path

    path = cell_path(Path("grid"), "ptune[init_from=runs/sst2]", 3)
    assert path.parent == Path("grid/cells") and path.name == "ptune[init_from=runs%2Fsst2]__seed3.json"
