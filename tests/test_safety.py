"""Nothing a user trained or wrote is lost, and bad input gets a one-line error (the first-hour defects)."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import pytest

from conftest import DEMO, copy_of_tiny_run
from helpers import ptune_here, train, train_here

pytestmark = pytest.mark.slow  # end to end: run by `make test`, left out by `-m "not slow"`


@pytest.fixture(scope="module")
def finished_run(tiny_run, tmp_path_factory):
    return copy_of_tiny_run(tiny_run, tmp_path_factory, "safety")


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("dev_text", ["sentence\tlabel\n", "sentence\tlabel\nan unseen label here\tneutral\n"],
                         ids=["header-only-dev", "unseen-dev-label"])
def test_overwrite_with_bad_dev_data_keeps_the_finished_run(tiny_backbone_dir, finished_run, tmp_path, dev_text):
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    before = snapshot(output)
    (tmp_path / "dev.tsv").write_text(dev_text)
    result = ptune_here("train", "--model", tiny_backbone_dir, "--data", DEMO / "train.tsv", "--dev-data", tmp_path / "dev.tsv",
                   "--output", output, "--overwrite", "--no-progress")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert snapshot(output) == before


def overwrite_mid_training(tiny_backbone_dir, finished_run, tmp_path):
    """A copy of the finished run, and a long `--overwrite` run over it that has begun its own log
    (the old run is moved aside by then): (output, snapshot before, the running process)."""
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    before = snapshot(output)
    process = subprocess.Popen([sys.executable, "-m", "ptune.cli", "train", "--model", str(tiny_backbone_dir),
                                "--data", str(DEMO), "--output", str(output), "--overwrite", "--epochs", "50",
                                "--batch-size", "4", "--no-progress"],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               # Ctrl-C as in a terminal, even when the tests run in a background job
                               # (whose children inherit an ignored SIGINT)
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = output / "train_log.jsonl"
    for _ in range(600):
        if log.exists() and log.read_bytes() != before["train_log.jsonl"] and log.stat().st_size > 0:
            break
        process.poll()
        assert process.returncode is None
        subprocess.run(["sleep", "0.1"])
    return output, before, process


@pytest.mark.parametrize("stop, code, said", [(signal.SIGINT, 130, "--resume"), (signal.SIGTERM, 143, "terminated")],
                         ids=["sigint", "sigterm"])
def test_overwrite_stopped_mid_training_puts_the_old_run_back(tiny_backbone_dir, finished_run, tmp_path, stop, code,
                                                              said):
    """Ctrl-C, or SIGTERM (a scheduler or container stop), unwinds the new run: the replaced run is
    back at once, with no backup left beside it."""
    output, before, process = overwrite_mid_training(tiny_backbone_dir, finished_run, tmp_path)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert said in stderr and "Traceback" not in stderr
    assert snapshot(output) == before
    assert not [p for p in output.iterdir() if p.name.startswith(".replaced-")]


def test_successful_overwrite_leaves_no_backup(tiny_backbone_dir, finished_run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    assert train_here(tiny_backbone_dir, output, "--overwrite", "--seed", "3").returncode == 0
    assert not [p for p in output.iterdir() if p.name.startswith(".replaced-")]


@pytest.mark.parametrize("flags, message", [
    (["--max-grad-norm", "-1"], "max_grad_norm=-1.0"),
    (["--weight-decay", "-0.1"], "weight_decay=-0.1"),
])
def test_flags_that_would_train_backwards_are_refused(tiny_backbone_dir, tmp_path, flags, message):
    result = train_here(tiny_backbone_dir, tmp_path / "bad", *flags)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "bad").exists()


def test_predict_output_and_eval_json_never_overwrite_silently(finished_run, tmp_path):
    target = tmp_path / "precious.jsonl"
    target.write_text("keep me")
    refused = ptune_here("predict", "--adapter", finished_run, "great", "--output", target)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr and target.read_text() == "keep me"
    refused = ptune_here("eval", "--adapter", finished_run, "--data", DEMO, "--json", target)
    assert refused.returncode == 2 and target.read_text() == "keep me"
    assert ptune_here("predict", "--adapter", finished_run, "great", "--output", target, "--overwrite").returncode == 0
    assert json.loads(target.read_text())["text"] == "great"


@pytest.mark.parametrize("name", ["ptune_config.json", "inference.safetensors", "metrics.json"])
def test_an_adapters_own_files_are_never_an_output(finished_run, name):
    before = (finished_run / name).read_bytes()
    refused = ptune_here("eval", "--adapter", finished_run, "--data", DEMO, "--json", finished_run / name, "--overwrite")
    assert refused.returncode == 2 and "whose files ptune manages" in refused.stderr
    assert (finished_run / name).read_bytes() == before


def test_output_in_a_missing_folder_is_one_line(finished_run, tmp_path):
    result = ptune_here("predict", "--adapter", finished_run, "great", "--output", tmp_path / "no" / "out.jsonl")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_blank_input_lines_keep_their_place(finished_run, tmp_path):
    (tmp_path / "in.txt").write_text("great film\n\nawful\n")
    result = ptune_here("predict", "--adapter", finished_run, "--file", tmp_path / "in.txt")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["great film", "", "awful"]
    assert rows[1]["label"] is None and rows[1]["error"] == "empty input"


def test_non_utf8_input_is_one_line(finished_run, tmp_path):
    (tmp_path / "in.txt").write_bytes(b"fine\ncaf\xe9 au lait\n")
    result = ptune_here("predict", "--adapter", finished_run, "--file", tmp_path / "in.txt")
    assert result.returncode == 2 and "in.txt:2: not UTF-8" in result.stderr


def test_predictor_refuses_a_bare_string_and_empty_texts(finished_run):
    from ptune.errors import ConfigError
    from ptune.inference.predictor import Predictor

    predictor = Predictor(finished_run)
    with pytest.raises(ConfigError, match="wrap it in a list"):
        predictor.predict("great film")
    with pytest.raises(ConfigError, match="empty or whitespace"):
        predictor.predict(["fine", "   "])


def test_adapter_files_are_readable_by_others(finished_run):
    for name in ("ptune_config.json", "inference.safetensors", "prompt_encoder.safetensors"):
        mode = (finished_run / name).stat().st_mode
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH, name


def test_summary_headlines_the_saved_best_checkpoint(finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    saved = json.loads((finished_run / "ptune_config.json").read_text())["dev_metrics"]
    assert metrics["best_dev"] == saved and set(saved) == {"accuracy", "macro_f1"}


def test_resume_with_a_damaged_checkpoint_is_one_line(tiny_backbone_dir, finished_run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    (output / "checkpoints" / "last" / "optimizer.pt").write_bytes(b"garbage")
    result = train_here(tiny_backbone_dir, output, "--resume")
    assert result.returncode == 2 and "checkpoint" in result.stderr and "damaged" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name, content", [("dev.tsv", b"sentence\tlabel\ncaf\xe9\tpositive\n"),
                                           ("dev.jsonl", b'{"text": "fine", "label": "positive"}\n{"text": "caf\xe9"}\n')])
def test_non_utf8_data_files_name_the_line(finished_run, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    result = ptune_here("eval", "--adapter", finished_run, "--data", tmp_path / name)
    assert result.returncode == 2 and f"{name}:2: not UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_eval_and_predict_refuse_a_zero_batch(finished_run):
    for command in (["eval", "--data", DEMO], ["predict", "great"]):
        result = ptune_here(command[0], "--adapter", finished_run, *command[1:], "--batch-size", "0")
        assert result.returncode == 2 and "batch_size=0" in result.stderr and "Traceback" not in result.stderr


def test_header_only_eval_data_is_one_line(finished_run, tmp_path):
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n")
    result = ptune_here("eval", "--adapter", finished_run, "--data", tmp_path / "dev.tsv")
    assert result.returncode == 2 and "no examples" in result.stderr and "Traceback" not in result.stderr


DISK_FULL_AFTER = os.path.join(os.path.dirname(__file__), "disk_full_after.py")


def test_a_disk_full_during_a_checkpoint_keeps_the_one_before(tiny_backbone_dir, tmp_path):
    output = tmp_path / "run"
    full = train(tiny_backbone_dir, output, launcher=[sys.executable, DISK_FULL_AFTER, "2"])
    assert full.returncode == 2 and "Traceback" not in full.stderr
    assert "writing the checkpoint of step 10" in full.stderr and "no space left on device" in full.stderr
    assert "continue with --resume" in full.stderr
    assert not (output / "checkpoints" / "last.tmp").exists()
    assert json.loads((output / "checkpoints" / "last" / "state.json").read_text())["step"] == 5
    resumed = train(tiny_backbone_dir, output, "--resume")  # space freed
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((output / "metrics.json").read_text())["steps"] == 30


@pytest.mark.parametrize("where", ["a-file", "under-a-file", "proc"])
def test_an_output_that_cannot_be_a_folder_is_one_line(tiny_backbone_dir, tmp_path, where):
    (tmp_path / "notes.txt").write_text("mine")
    output = {"a-file": tmp_path / "notes.txt", "under-a-file": tmp_path / "notes.txt" / "run",
              "proc": "/proc/ptune-run"}[where]
    if where == "proc" and not os.path.isdir("/proc"):
        pytest.skip("no /proc on this system")
    refused = train_here(tiny_backbone_dir, output)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"--output {output}:" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_disk_full_at_the_first_adapter_save_leaves_the_folder_as_it_was(tiny_backbone_dir, tmp_path, monkeypatch,
                                                                          capsys):
    import errno

    import ptune.engine.model as saving
    from ptune.cli import main

    real = saving.save_file

    def full_on_the_encoder(tensors, path, *args, **kwargs):
        if ".prompt_encoder.safetensors." in str(path):  # the adapter's second file: the first is half the save
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, path, *args, **kwargs)

    monkeypatch.setattr(saving, "save_file", full_on_the_encoder)
    output = tmp_path / "run"
    code = main(["train", "--model", str(tiny_backbone_dir), "--data", str(DEMO), "--output", str(output),
                 "--epochs", "1", "--batch-size", "16", "--num-virtual-tokens", "4", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no space left on device" in err and "nothing was written" in err
    assert not output.exists()  # no inference.safetensors, no run_config.json: nothing claims to be a run


def test_sigterm_before_the_first_checkpoint_does_not_promise_one(tiny_backbone_dir, tmp_path):
    fifo = tmp_path / "train.tsv"
    os.mkfifo(fifo)
    result = train_here(tiny_backbone_dir, tmp_path / "run", "--data", fifo)  # a FIFO is refused, never waited on
    assert result.returncode == 2 and "not a regular file" in result.stderr
    from ptune.cli.signals import resume_hint

    class Args:
        command, output = "train", str(tmp_path / "never")
    assert "nothing to resume" in resume_hint(Args())
