"""The logistic probe: the linear probe's head fitted in closed form, C chosen on training rows."""
import numpy as np
import pytest
import torch

from conftest import DEMO
from helpers import assert_head_is_sklearns_fit
from ptune.lab.compare.cell import run_cell
from ptune.lab.compare.logistic_probe import C_GRID, LogisticProbe, cross_validation
from ptune.lab.compare.protocol import ProtocolConfig


@pytest.fixture
def demo_features(tiny_bert):
    from ptune.tasks import get_task

    backbone, tokenizer = tiny_bert
    task = get_task("classification")
    examples = task.read(str(DEMO / "train.tsv"), split="train")[:80]
    labels = task.label_set(examples)
    return task.features(examples, tokenizer=tokenizer, max_length=32, labels=labels), tokenizer, labels


def test_the_fitted_head_gives_sklearns_probabilities(tiny_bert, demo_features):
    """Standardisation and sklearn's binary one-logit form are folded into the head exactly."""
    features, tokenizer, _ = demo_features
    probe = LogisticProbe(tiny_bert[0], num_labels=2, seed=0)
    report = probe.fit_closed_form(features, pad_token_id=tokenizer.pad_token_id, batch_size=16, seed=0)
    assert report["C"] in C_GRID and report["cv_folds"] == 5 and 0 <= report["cv_score"] <= 1
    assert report["train_positions"] == len(features)

    inputs, targets, _ = probe.head_inputs(features, pad_token_id=tokenizer.pad_token_id, batch_size=16)
    assert_head_is_sklearns_fit(probe, features, inputs=inputs, targets=targets, C=report["C"],
                                pad_token_id=tokenizer.pad_token_id)


def test_a_label_absent_from_training_is_never_predicted(tiny_bert, demo_features):
    features, tokenizer, _ = demo_features
    probe = LogisticProbe(tiny_bert[0], num_labels=3, seed=0)  # label 2 has no training row
    probe.fit_closed_form(features, pad_token_id=tokenizer.pad_token_id, batch_size=16, seed=0)
    batch = probe.task.collate(features, pad_token_id=tokenizer.pad_token_id)
    probe.eval()
    with torch.no_grad():
        predicted = probe(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).argmax(-1)
    assert set(predicted.tolist()) <= {0, 1}


def test_one_training_label_answers_that_label(tiny_bert, demo_features):
    features, tokenizer, _ = demo_features
    ones = [f for f in features if f["label"] == 1]
    probe = LogisticProbe(tiny_bert[0], num_labels=2, seed=0)
    report = probe.fit_closed_form(ones, pad_token_id=tokenizer.pad_token_id, batch_size=16, seed=0)
    assert report["C"] is None and report["cv_folds"] == 0
    batch = probe.task.collate(features, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        assert set(probe(batch["input_ids"], batch["attention_mask"]).argmax(-1).tolist()) == {1}


def test_folds_hold_out_whole_examples_and_every_label():
    targets = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    splitter, folds = cross_validation(targets, groups, seed=0)
    assert folds == 3  # the rarest label has three positions
    for train, held in splitter.split(targets, targets, groups):
        assert not set(groups[train]) & set(groups[held])
    assert cross_validation(np.array([0, 0, 1]), np.array([0, 1, 2]), seed=0) is None  # label 1 once


def test_a_grid_cell_reports_the_choice_and_no_learning_rate(tiny_backbone_dir):
    protocol = ProtocolConfig(data=str(DEMO), model=str(tiny_backbone_dir), train_size=64, batch_size=32,
                              max_length=32, precision="fp32")
    row = run_cell(protocol, "logistic-probe", seed=0)
    assert row["steps"] == 0 and row["loss_curve"] == [] and row["learning_rates"] == {"lr": None, "head_lr": None}
    assert row["closed_form_fit"]["C"] in C_GRID and 0.0 <= row["dev_accuracy"] <= 1.0
    assert row["trainable_parameters"] == 2 * 32 + 2 and row["inference_bytes"] > 0


def test_a_tagger_is_fitted_on_its_labelled_tokens(tiny_backbone_dir, tmp_path):
    import random

    rng = random.Random(0)
    rows = [line.split("\t", 1)[1].lower().split() for line in (DEMO / "train.tsv").read_text().splitlines()[1:]]
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC"]
    for name, chosen in (("train.txt", rows[:40]), ("dev.txt", rows[40:50])):
        (tmp_path / name).write_text("\n\n".join("\n".join(f"{w} {rng.choice(tags)}" for w in words)
                                                for words in chosen) + "\n")
    protocol = ProtocolConfig.preset("conll-minilm", data=str(tmp_path), model=str(tiny_backbone_dir), max_length=32,
                                     precision="fp32", train_size=40)
    row = run_cell(protocol, "logistic-probe", seed=0)
    assert row["task"] == "token_classification" and 0.0 <= row["dev_f1"] <= 1.0
    assert row["closed_form_fit"]["train_positions"] > 40  # tokens, not sentences


def test_compare_runs_it_beside_a_trained_method_and_reports_both(tiny_backbone_dir, tmp_path):
    import subprocess
    import sys

    command = [sys.executable, "-m", "ptune.cli", "compare", "--model", str(tiny_backbone_dir), "--data", str(DEMO),
               "--train-sizes", "32", "--max-length", "32", "--seeds", "0", "--methods", "linear-probe,logistic-probe",
               "--output", str(tmp_path), "--precision", "fp32"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    grid = (tmp_path / "resources-n32" / "table.md").read_text()
    assert "| closed form |" in grid and "| 0.005 |" in grid
    assert "| logistic-probe |" in (tmp_path / "resources-curve.md").read_text()


def test_a_learning_rate_for_it_is_refused(tiny_backbone_dir):
    from ptune.errors import ConfigError

    protocol = ProtocolConfig(data=str(DEMO), model=str(tiny_backbone_dir), train_size=32, max_length=32)
    with pytest.raises(ConfigError, match="no learning rate; leave out lr="):
        run_cell(protocol, "logistic-probe[lr=0.01]", seed=0)
