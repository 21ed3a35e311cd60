"""ptune compare / ablate: every method through the one harness, resumable grids, tables, plots."""
import csv
import json

import pytest

from conftest import DEMO
from helpers import fake_row
from ptune.lab.compare.ablation import ablation_methods
from ptune.lab.compare.cell import run_cell
from ptune.lab.compare.grid import all_rows, cell_path, run_grid
from ptune.lab.compare.methods import METHODS, parse_method, split_methods
from ptune.lab.compare.protocol import ProtocolConfig
from ptune.lab.compare.report import summarize, write_reports
from ptune.errors import ConfigError, PtuneError

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def tiny_protocol(tiny_backbone_dir):
    # 64 training rows, batch 32: every method takes exactly two optimizer steps.
    return ProtocolConfig(data=str(DEMO), model=str(tiny_backbone_dir), train_size=64, batch_size=32,
                          max_length=32, precision="fp32")


@pytest.mark.parametrize("method", [*(m for m in METHODS if m not in ("logistic-probe", "setfit")), "ptune[injection=input;depth=0]", "ptune[encoder=lstm;lr=1e-2]",
                                    "peft-lora[r=4]"])
def test_every_method_runs_two_steps_and_gives_a_well_formed_row(tiny_protocol, method):
    row = run_cell(tiny_protocol, method, seed=0)
    assert row["method"] == method and row["steps"] == 2 and row["train_examples"] == 64
    assert row["dev_examples"] == 60 and 0.0 <= row["dev_accuracy"] <= 1.0 and 0.0 <= row["dev_macro_f1"] <= 1.0
    assert 0 < row["trainable_parameters"] <= row["total_parameters"]
    assert row["trainable_percent"] == pytest.approx(100 * row["trainable_parameters"] / row["total_parameters"])
    assert row["train_samples_per_s"] > 0 and row["eval_samples_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert row["inference_bytes"] > 0 and row["inference_parameters"] > 0
    assert row["loss_curve"] and row["loss_curve"][-1][0] == 2
    from ptune.defaults import default_injection, default_learning_rate

    injection = row["settings"].get("injection") or default_injection("classification")
    import dataclasses

    from ptune.encoders import MLPEncoderConfig

    mlp_settings = set(row["settings"]) & {f.name for f in dataclasses.fields(MLPEncoderConfig)}
    encoder = row["settings"].get("encoder") or ("mlp" if mlp_settings or injection == "input" else "embedding")
    default = METHODS[row["base_method"]].lr or default_learning_rate("classification", injection, encoder)
    assert row["learning_rates"]["lr"] == (1e-2 if "lr=1e-2" in method else default)
    # FLOP rates: text tokens only, and text + what the method adds: virtual tokens through every
    # layer (input-level prompts, PEFT's P-tuning and prompt tuning) or deep prompts' attention columns
    adds_tokens = row["base_method"] in ("peft-ptuning", "peft-prompt") or (row["base_method"] == "ptune" and injection == "input")
    deep = row["base_method"] == "ptune" and injection == "deep"
    assert row["added_input_tokens"] == (20 if adds_tokens else 0)
    assert (row["train_gflops_per_s"] > row["useful_train_gflops_per_s"] > 0) if adds_tokens or deep else \
        (row["train_gflops_per_s"] == row["useful_train_gflops_per_s"] > 0)


@pytest.fixture(scope="module")
def tiny_conll(tmp_path_factory):
    """CoNLL files over the tiny tokenizer's vocabulary: 64 training and 20 dev sentences."""
    import random

    folder = tmp_path_factory.mktemp("conll")
    rng = random.Random(0)
    rows = [line.split("\t", 1)[1].lower().split() for line in (DEMO / "train.tsv").read_text().splitlines()[1:]]
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC"]
    for name, chosen in (("train.txt", rows[:64]), ("dev.txt", rows[64:84])):
        (folder / name).write_text("\n\n".join("\n".join(f"{w} {rng.choice(tags)}" for w in words) for words in chosen) + "\n")
    return folder


@pytest.mark.parametrize("method", ["ptune", "ptune[injection=input]", "ptune[injection=deep;encoder=mlp]", "peft-lora",
                                    "peft-ptuning", "bitfit", "full-ft", "linear-probe"])
def test_token_classification_methods_give_entity_scores(tiny_backbone_dir, tiny_conll, method):
    protocol = ProtocolConfig.preset("conll-minilm", data=str(tiny_conll), model=str(tiny_backbone_dir), max_length=32,
                                     precision="fp32")
    row = run_cell(protocol, method, seed=0)
    assert row["task"] == "token_classification" and row["metric"] == "f1" and row["steps"] == 2
    assert 0.0 <= row["dev_score"] == row["dev_f1"] <= 1.0 and set(row["dev_per_type"]) <= {"PER", "LOC"}
    injection = row["settings"].get("injection", "deep") if row["base_method"] == "ptune" else None
    assert row["added_input_tokens"] == (20 if injection == "input" or row["base_method"] == "peft-ptuning" else 0)


def test_peft_ptuning_tags_the_text_positions_not_its_virtual_tokens(tiny_backbone_dir):
    import torch

    from ptune.lab.compare.peft_methods import build_peft_ptuning

    model = build_peft_ptuning(str(tiny_backbone_dir), num_labels=5, num_virtual_tokens=7, task="token_classification")
    ids = torch.randint(5, 50, (2, 11))
    assert model(ids, torch.ones_like(ids)).shape == (2, 11, 5)  # PEFT's own output has 7 more positions
    with pytest.raises(PtuneError, match="not question_answering"):
        build_peft_ptuning(str(tiny_backbone_dir), num_labels=2, task="question_answering")


def test_a_validation_split_from_train_leaves_dev_unread(tiny_conll, tiny_backbone_dir, tmp_path):
    import shutil

    shutil.copy(tiny_conll / "train.txt", tmp_path / "train.txt")  # no dev file at all
    protocol = ProtocolConfig.preset("conll-minilm", data=str(tmp_path), validation_from_train=14)
    train, dev, labels = protocol.examples(seed=0)
    assert (len(train), len(dev)) == (50, 14) and dev[0].words == load_conll(tiny_conll)[50].words
    with pytest.raises(ConfigError, match="only 64 rows"):
        ProtocolConfig.preset("conll-minilm", data=str(tmp_path), validation_from_train=64).examples(seed=0)


def load_conll(folder):
    from ptune.data.conll import load_tagged

    return load_tagged(folder, split="train")


def test_parameter_budgets_are_what_each_method_promises(tiny_protocol):
    rows = {m: run_cell(tiny_protocol, m, seed=0)
            for m in ("linear-probe", "bitfit", "full-ft", "ptune[injection=input]", "ptune[injection=deep]")}
    head = 32 * 2 + 2  # hidden 32, two labels
    assert rows["linear-probe"]["trainable_parameters"] == head
    assert rows["full-ft"]["trainable_parameters"] == rows["full-ft"]["total_parameters"]
    assert rows["linear-probe"]["trainable_parameters"] < rows["bitfit"]["trainable_parameters"] \
        < rows["full-ft"]["trainable_parameters"]
    # ptune serves the prompt table and head only: k * hidden + head, or k * layers * 2 * hidden + head
    assert rows["ptune[injection=input]"]["inference_parameters"] == 20 * 32 + head
    assert rows["ptune[injection=deep]"]["inference_parameters"] == 20 * 2 * 2 * 32 + head


def test_prefix_tuning_compatibility_layer_only_wraps_when_needed(tiny_backbone_dir):
    import inspect

    from transformers import AutoModelForSequenceClassification

    from ptune.lab.compare.peft_methods import accept_past_key_values

    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone_dir, num_labels=2)
    accept_past_key_values(model)
    assert "past_key_values" in inspect.signature(model.bert.forward).parameters
    assert accept_past_key_values(model) is False  # second call: already accepted, nothing wrapped twice


def test_method_strings_parse_and_typos_fail_early():
    spec = parse_method("ptune[encoder=lstm; lr=1e-2; residual=false]")
    assert spec.method.name == "ptune" and spec.train_settings == {"lr": 0.01}
    assert spec.model_settings == {"encoder": "lstm", "residual": False}
    assert split_methods("ptune,peft-lora[target_modules=query,value;r=4],bitfit") == [
        "ptune", "peft-lora[target_modules=query,value;r=4]", "bitfit"]
    with pytest.raises(ConfigError, match="not a method"):
        parse_method("p-tune")
    with pytest.raises(ConfigError, match="key=value"):
        parse_method("ptune[lstm]")


def test_unknown_setting_fails_the_cell_with_the_reason(tiny_protocol, tmp_path):
    rows = run_grid(tiny_protocol, methods=["peft-lora[rank=4]"], seeds=[0], output=tmp_path, isolate=False,
                    log=lambda m: None)
    assert "error" in rows[0] and "rank" in rows[0]["error_summary"] and "'r'" in rows[0]["error_summary"]


def test_resume_skips_finished_cells_and_reruns_corrupt_and_failed_ones(tmp_path):
    protocol = ProtocolConfig(data=str(DEMO))
    calls, broken = [], {"bitfit"}

    def runner(protocol, method, seed):
        calls.append((method, seed))
        if method in broken:
            raise RuntimeError("out of memory (simulated)")
        return fake_row(method, seed)

    grid = dict(methods=["ptune", "bitfit"], seeds=[0, 1], output=tmp_path, isolate=False, log=lambda m: None,
                run_in_process=runner)
    rows = run_grid(protocol, **grid)
    assert len(calls) == 4 and sum("error" in r for r in rows) == 2
    assert "out of memory (simulated)" in json.loads(cell_path(tmp_path, "bitfit", 0).read_text())["error_summary"]
    table = write_reports(tmp_path, all_rows(tmp_path), order=grid["methods"], kind="comparison", title="t",
                          plots=False)[0].read_text()
    assert "**FAILED**" in table and "out of memory" in table  # a failure is shown, never a number

    cell_path(tmp_path, "ptune", 1).write_text('{"method": "ptune", "se')  # killed mid-write
    calls.clear()
    broken.clear()
    rows = run_grid(protocol, **grid)
    assert sorted(calls) == [("bitfit", 0), ("bitfit", 1), ("ptune", 1)]
    assert not any("error" in r for r in rows)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4

    calls.clear()
    run_grid(protocol, **grid)
    assert calls == []


@pytest.mark.parametrize("eval_every, evaluations", [(0, 2), (8, 1)], ids=["once-an-epoch", "once-at-the-end"])
def test_a_protocol_sets_how_often_cells_evaluate(tiny_protocol, monkeypatch, eval_every, evaluations):
    import dataclasses

    import ptune.training.loop as loop

    calls = []
    real = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    protocol = dataclasses.replace(tiny_protocol, batch_size=16, epochs=2, eval_every=eval_every)  # 8 steps
    row = run_cell(protocol, "ptune", seed=0)
    assert row["steps"] == 8 and len(calls) == evaluations  # the last step is scored either way
    with pytest.raises(ConfigError, match="eval_every=-1"):
        dataclasses.replace(tiny_protocol, eval_every=-1)


def test_a_grid_folder_refuses_another_protocol(tmp_path):
    runner = lambda protocol, method, seed: fake_row(method, seed)  # noqa: E731
    run_grid(ProtocolConfig(data=str(DEMO)), methods=["ptune"], seeds=[0], output=tmp_path, isolate=False,
             log=lambda m: None, run_in_process=runner)
    with pytest.raises(PtuneError, match="epochs"):
        run_grid(ProtocolConfig(data=str(DEMO), epochs=3), methods=["ptune"], seeds=[0], output=tmp_path,
                 isolate=False, log=lambda m: None, run_in_process=runner)


@pytest.fixture()
def fixture_rows():
    rows = [fake_row("ptune", s, 0.80 + 0.01 * s) for s in range(3)]
    rows += [fake_row("peft-lora", s, 0.82, trainable_parameters=70000, trainable_percent=0.3) for s in range(3)]
    rows += [fake_row("ptune[injection=input]", s, 0.80 + 0.01 * s) for s in range(3)]
    rows += [fake_row("ptune[injection=input;num_virtual_tokens=5]", 0, 0.78),
             fake_row("ptune[injection=input;num_virtual_tokens=50]", 0, 0.81)]
    rows += [fake_row("ptune[injection=input;encoder=embedding]", 0, 0.75), fake_row("linear-probe", 0, 0.70)]
    rows += [{"method": "peft-prefix", "seed": 0, "error": "Traceback...\nValueError: no cache",
              "error_summary": "ValueError: no cache"}]
    return rows


def test_comparison_table_csv_and_plots_from_a_results_fixture(fixture_rows, tmp_path):
    written = write_reports(tmp_path, fixture_rows, order=["ptune", "peft-lora", "peft-prefix"], kind="comparison",
                            title="fixture", lab_column=True)
    names = {p.name for p in written}
    assert names == {"table.md", "summary.csv", "accuracy_vs_parameters.png", "accuracy_vs_virtual_tokens.png",
                     "loss_curves.png"}
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    table = (tmp_path / "table.md").read_text().splitlines()
    ptune_line = next(line for line in table if line.startswith("| ptune |"))
    assert "81.0 ± 1.0" in ptune_line and "| 0,1,2 |" in ptune_line and "91.2 / 0.1%" in ptune_line
    assert table.index(ptune_line) < table.index(next(line for line in table if line.startswith("| peft-lora |")))
    assert any(line.startswith("| peft-prefix | **FAILED** (seed 0: ValueError: no cache)") for line in table)
    summary = list(csv.DictReader((tmp_path / "summary.csv").open()))
    by_method = {r["method"]: r for r in summary}
    assert float(by_method["ptune"]["dev_score_mean"]) == pytest.approx(0.81)
    assert by_method["peft-prefix"]["failed_seeds"] == "0" and by_method["peft-prefix"]["dev_score_mean"] == ""


@pytest.mark.parametrize("protocol, header", [(None, "dev accuracy"), ({"eval_split": "dev"}, "dev accuracy"),
                                              ({"eval_split": "test"}, "test accuracy")])
def test_the_table_names_the_split_it_scored(fixture_rows, tmp_path, protocol, header):
    """The fewshot protocol scores CR and TREC on their test splits: the table says so."""
    if protocol is not None:
        (tmp_path / "protocol.json").write_text(json.dumps(protocol))
    write_reports(tmp_path, fixture_rows, order=["ptune", "peft-lora"], kind="comparison", title="t", plots=False)
    assert (tmp_path / "table.md").read_text().splitlines()[2].startswith(f"| method | {header} (mean ± std) |")


def test_ablation_table_gives_deltas_against_the_full_configuration(fixture_rows, tmp_path):
    write_reports(tmp_path, fixture_rows, order=ablation_methods(), kind="ablation", title="fixture", plots=False,
                  lab_column=True)
    table = (tmp_path / "table.md").read_text()
    assert ("| without the prompt encoder (plain embeddings) | `ptune[injection=input;encoder=embedding]` | 75.0 | -6.0 |"
            in table)
    assert "| without virtual tokens (linear probe) | `linear-probe` | 70.0 | -11.0 |" in table
    assert "85.3 (-5.9)" in table  # the lab's own number beside ours
    assert "`ptune[injection=input;depth=0]` | not run" in table


def test_summaries_keep_the_requested_order_and_seed_spread(fixture_rows):
    summaries = summarize(fixture_rows, order=["peft-lora", "ptune"])
    assert [s.method for s in summaries][:2] == ["peft-lora", "ptune"]
    assert summaries[1].std("dev_accuracy") == pytest.approx(0.01)


def test_compare_command_end_to_end(tiny_backbone_dir, tmp_path):
    from helpers import ptune_here as ptune

    args = ["compare", "--model", tiny_backbone_dir, "--data", DEMO, "--train-size", "64", "--max-length", "32",
            "--seeds", "0", "--methods", "ptune,linear-probe", "--output", tmp_path, "--precision", "fp32"]
    first = ptune(*args)
    assert first.returncode == 0, first.stderr
    assert "| ptune |" in first.stdout and "| linear-probe |" in first.stdout
    assert (tmp_path / "results.jsonl").exists() and (tmp_path / "accuracy_vs_parameters.png").exists()
    again = ptune(*args)
    assert again.returncode == 0 and again.stderr.count("skip") == 2
    bad = ptune(*args[:-4], "--epochs", "2", "--output", tmp_path)
    assert bad.returncode == 2 and "another protocol" in bad.stderr
    (tmp_path / "table.md").unlink()
    report = ptune(*args, "--report-only", "--methods", "linear-probe,ptune,peft-lora")
    assert report.returncode == 0 and "skip" not in report.stderr and (tmp_path / "table.md").exists()
    assert "| peft-lora |" not in report.stdout  # nothing trained, nothing invented


@pytest.fixture()
def tiny_squad(shared_data, tmp_path):
    """The real SQuAD 2.0 sample split in two: 40 questions to train on, 20 to evaluate."""
    data = json.loads((shared_data / "squad-sample" / "dev-v2.0-normans.json").read_text())
    paragraphs = data["data"][0]["paragraphs"]
    for name, chosen in (("train-v2.0.json", paragraphs[:8]), ("dev-v2.0.json", paragraphs[8:12])):
        (tmp_path / name).write_text(json.dumps({"version": "v2.0", "data": [{"title": "Normans", "paragraphs": chosen}]}))
    return tmp_path


@pytest.mark.parametrize("method", ["ptune", "peft-lora", "full-ft"])
def test_question_answering_methods_give_squad_scores(tiny_backbone_dir, tiny_squad, method):
    protocol = ProtocolConfig.preset("squad2-minilm", data=str(tiny_squad), model=str(tiny_backbone_dir), max_length=48,
                                     precision="fp32", epochs=1.0)
    row = run_cell(protocol, method, seed=0)
    assert row["task"] == "question_answering" and row["metric"] == "f1"
    assert 0.0 <= row["dev_score"] == row["dev_f1"] <= 1.0 and 0.0 <= row["dev_exact"] <= 1.0
    assert row["dev_features"] > row["dev_examples"]  # windows: a context spans several at 48 word pieces
