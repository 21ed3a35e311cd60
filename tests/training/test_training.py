"""The loop through the CLI on a tiny in-code BERT: determinism, resume after kill -9, output safety,
early stopping, and the 2-process accelerate path."""
import json
import shutil
import sys

import pytest

from conftest import DEMO, copy_of_tiny_run
from helpers import TRAIN_FLAGS, killed_after, losses, metrics, ptune, ptune_here, train, train_here

pytestmark = pytest.mark.slow  # end to end: run by `make test`, left out by `-m "not slow"`

@pytest.fixture(scope="module")
def reference_run(tiny_run, tmp_path_factory):
    return copy_of_tiny_run(tiny_run, tmp_path_factory, "runs")


def test_run_writes_adapter_metrics_and_log(reference_run):
    names = {p.name for p in reference_run.iterdir()}
    assert {"ptune_config.json", "inference.safetensors", "prompt_encoder.safetensors", "metrics.json",
            "train_log.jsonl", "run_config.json", "checkpoints"} <= names
    m = metrics(reference_run)
    assert m["steps"] == m["steps_total"] == 30  # 233 examples / 16 = 15 steps per epoch
    assert m["best_dev"]["accuracy"] >= m["final_dev"]["accuracy"] or m["best_step"] == 30
    evals = [e for e in map(json.loads, (reference_run / "train_log.jsonl").read_text().splitlines()) if "eval" in e]
    assert [e["step"] for e in evals] == [5, 10, 15, 20, 25, 30]


def test_same_seed_same_result(tiny_backbone_dir, reference_run, tmp_path):
    assert train(tiny_backbone_dir, tmp_path / "again").returncode == 0
    assert losses(tmp_path / "again") == losses(reference_run)
    assert metrics(tmp_path / "again")["final_dev"] == metrics(reference_run)["final_dev"]


def test_resume_after_kill_9_finishes_like_an_uninterrupted_run(tiny_backbone_dir, reference_run, tmp_path):
    output = tmp_path / "killed"
    killed = train(tiny_backbone_dir, output, launcher=killed_after(13))
    assert killed.returncode == -9  # SIGKILL, after the checkpoint of step 10
    assert not (output / "metrics.json").exists()
    resumed = train(tiny_backbone_dir, output, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert metrics(output)["final_dev"] == metrics(reference_run)["final_dev"]
    assert metrics(output)["best_step"] == metrics(reference_run)["best_step"]
    assert losses(output) == losses(reference_run)
    for name in ("inference.safetensors", "prompt_encoder.safetensors"):
        assert (output / name).read_bytes() == (reference_run / name).read_bytes()
    # the model card and the adapter keep the command that started the run, not the --resume one
    card = (output / "README.md").read_text()
    assert "--resume" not in card and f"--output {output}" in card
    assert "--resume" not in json.loads((output / "ptune_config.json").read_text())["training"]["command"]


@pytest.mark.parametrize("edit", ["drop-a-row", "flip-a-label"])
def test_resume_after_the_data_changed_is_refused(tiny_backbone_dir, tmp_path, edit):
    data = tmp_path / "data"
    shutil.copytree(DEMO, data)
    output = tmp_path / "run"
    started = ptune("train", "--model", tiny_backbone_dir, "--data", data, "--output", output, *TRAIN_FLAGS,
                    launcher=killed_after(7))
    assert started.returncode == -9
    lines = (data / "train.tsv").read_text().splitlines()
    if edit == "drop-a-row":
        lines = lines[:-1]
    else:
        label, text = lines[1].split("\t", 1)
        lines[1] = f"{'negative' if label == 'positive' else 'positive'}\t{text}"
    (data / "train.tsv").write_text("\n".join(lines) + "\n")
    refused = ptune_here("train", "--model", tiny_backbone_dir, "--data", data, "--output", output, *TRAIN_FLAGS, "--resume")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"the train data ({data}) changed since the run" in refused.stderr
    assert ("examples then" in refused.stderr) == (edit == "drop-a-row")


def test_existing_output_is_not_overwritten_without_the_flag(tiny_backbone_dir, reference_run, tmp_path):
    output = tmp_path / "copy"
    shutil.copytree(reference_run, output)
    before = (output / "inference.safetensors").read_bytes()
    refused = train_here(tiny_backbone_dir, output)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert (output / "inference.safetensors").read_bytes() == before
    assert train_here(tiny_backbone_dir, output, "--overwrite", "--seed", "1").returncode == 0


def test_foreign_folder_is_never_deleted(tiny_backbone_dir, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    refused = train_here(tiny_backbone_dir, tmp_path, "--overwrite")
    assert refused.returncode == 2 and "not a ptune run folder" in refused.stderr
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_resume_with_other_settings_is_refused(tiny_backbone_dir, reference_run, tmp_path):
    output = tmp_path / "copy"
    shutil.copytree(reference_run, output)
    refused = train_here(tiny_backbone_dir, output, "--resume", "--seed", "7")
    assert refused.returncode == 2 and "settings differ" in refused.stderr
    assert "training.seed: run has 0, now 7" in refused.stderr  # the setting is named


def test_early_stopping_stops_before_the_budget(tiny_backbone_dir, tmp_path):
    result = train_here(tiny_backbone_dir, tmp_path / "early", "--early-stopping-patience", "1", "--eval-every", "1",
                   "--lr", "1e-5", "--head-lr", "1e-5")
    assert result.returncode == 0, result.stderr
    assert metrics(tmp_path / "early")["steps"] < 30


def test_bad_flags_are_reported_together(tiny_backbone_dir, tmp_path):
    result = train_here(tiny_backbone_dir, tmp_path / "bad", "--batch-size", "0", "--warmup-ratio", "2")
    assert result.returncode == 2
    assert "batch_size=0" in result.stderr and "warmup_ratio=2" in result.stderr


def test_encoder_flag_that_does_not_apply(tiny_backbone_dir, tmp_path):
    result = train_here(tiny_backbone_dir, tmp_path / "bad", "--encoder", "lstm", "--encoder-depth", "2")
    assert result.returncode == 2 and "--encoder-depth" in result.stderr


def test_two_cpu_processes(tiny_backbone_dir, tmp_path):
    """The same command under torchrun: 2 processes, gradients synced, one adapter written."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "ptune.cli"]
    result = ptune("train", "--model", tiny_backbone_dir, "--data", DEMO, "--output", tmp_path / "ddp", *TRAIN_FLAGS,
                   launcher=torchrun)
    assert result.returncode == 0, result.stderr[-3000:]
    m = metrics(tmp_path / "ddp")
    # 15 batches per epoch: each process takes 7 (the odd one is dropped), so 2 epochs are 14 steps.
    assert m["processes"] == 2 and m["steps"] == 14
    assert (tmp_path / "ddp" / "inference.safetensors").exists()


def fit_tiny(tiny_bert, tmp_path, *, precision: str, fp32_finish: float = 0.0, spy=None):
    """In-process fit of a tiny model on the bundled sample: 10 optimizer steps of 16."""
    import torch

    from ptune.config import PTuningConfig, TrainConfig
    from ptune.data import LabelSet, load_examples, tokenize
    from ptune.engine.model import PTuningModel
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator

    backbone, tokenizer = tiny_bert
    train_examples = load_examples(DEMO, split="train")[:160]
    labels = LabelSet.from_examples(train_examples)
    features = tokenize(train_examples, tokenizer=tokenizer, max_length=32, labels=labels)
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=4, injection="input", max_length=32), num_labels=len(labels), seed=0)
    if spy is not None:
        spy(model)
    config = TrainConfig(epochs=1, batch_size=16, precision=precision, fp32_finish=fp32_finish, lr=1e-2, head_lr=1e-2,
                         head_init="random", choose_layer=False)
    torch.manual_seed(0)
    tmp_path.mkdir(parents=True, exist_ok=True)
    result = fit(model, train_features=features, dev_features=features[:32], config=config, run_dir=tmp_path,
                 pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                 accelerator=make_accelerator(precision), show_progress=False)
    return model, result


def test_fp32_finish_runs_the_last_steps_in_fp32(tiny_bert, tmp_path):
    import torch

    seen = []  # per training forward: (dtype of a backbone Linear's output, dtype of its stored weight)
    linear = tiny_bert[0].encoder.layer[0].attention.self.query
    original = linear.weight.data.clone()

    def spy(model):
        record = lambda module, args, output: seen.append((output.dtype, module.weight.dtype))
        linear.register_forward_hook(lambda *a: record(*a) if model.training else None)

    model, result = fit_tiny(tiny_bert, tmp_path, precision="bf16", fp32_finish=0.3, spy=spy)
    assert result.steps_total == 10
    assert seen == [(torch.bfloat16, torch.bfloat16)] * 7 + [(torch.float32, torch.float32)] * 3
    weight = linear.weight
    assert weight.dtype == torch.float32 and torch.equal(weight.data, original)  # the backbone comes back intact


def test_fp32_finish_of_all_steps_trains_like_fp32(tiny_bert, tmp_path):
    import torch

    from ptune.engine.backbone import prefer_eager_attention

    prefer_eager_attention(tiny_bert[0])  # what bf16 training on CPU switches to; same kernels on both sides
    # bf16 first: the first fit in a process can differ from later ones in the last bits (seen with one
    # thread: the CPU kernels' first calls), so the two compared bit for bit come after it.
    bf16, _ = fit_tiny(tiny_bert, tmp_path / "bf16", precision="bf16")
    fp32, _ = fit_tiny(tiny_bert, tmp_path / "fp32", precision="fp32")
    fp32_state = {k: v.clone() for k, v in fp32.trainable_state_dict().items()}
    finished, _ = fit_tiny(tiny_bert, tmp_path / "finish", precision="bf16", fp32_finish=1.0)
    assert all(torch.equal(finished.trainable_state_dict()[k], v) for k, v in fp32_state.items())
    assert not all(torch.equal(bf16.trainable_state_dict()[k], v) for k, v in fp32_state.items())


def test_fp32_finish_must_be_a_fraction():
    from ptune.config import TrainConfig
    from ptune.errors import ConfigError

    with pytest.raises(ConfigError, match="fp32_finish=1.5: expected a fraction"):
        TrainConfig(fp32_finish=1.5)


def test_deep_prompts_resume_after_kill_9_like_an_uninterrupted_run(tiny_backbone_dir, tmp_path):
    deep = ("--injection", "deep", "--lr", "3e-2", "--head-lr", "3e-2")
    assert train(tiny_backbone_dir, tmp_path / "reference", *deep).returncode == 0
    killed = train(tiny_backbone_dir, tmp_path / "killed", *deep, launcher=killed_after(13))
    assert killed.returncode == -9
    resumed = ptune("train", "--output", tmp_path / "killed", "--resume", "--no-progress")  # settings from run_config.json
    assert resumed.returncode == 0, resumed.stderr
    assert losses(tmp_path / "killed") == losses(tmp_path / "reference")
    for name in ("inference.safetensors", "prompt_encoder.safetensors"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()


def test_tensorboard_receives_losses_dev_scores_and_settings(tiny_backbone_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train_here(tiny_backbone_dir, tmp_path / "run", "--report-to", "tensorboard")
    assert result.returncode == 0, result.stderr
    events = EventAccumulator(str(next((tmp_path / "run" / "tensorboard").iterdir())))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "train/lr", "dev/accuracy"} <= set(scalars)
    assert [e.step for e in events.Scalars("dev/accuracy")] == [5, 10, 15, 20, 25, 30]


def test_a_tracker_that_is_not_installed_or_unknown_is_a_clear_error(tiny_backbone_dir, tmp_path, monkeypatch):
    import importlib.util

    from ptune.config import TrainConfig
    from ptune.errors import ConfigError
    from ptune.training.run import DataConfig, RunConfig, train as train_run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(DEMO)), output=str(tmp_path / "w"),
                    training=TrainConfig(report_to="wandb"))
    with pytest.raises(ConfigError, match="pip install wandb"):
        train_run(run)
    assert not (tmp_path / "w").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="report_to='mlflow'"):
        TrainConfig(report_to="mlflow")


def test_an_overwrite_killed_after_its_first_checkpoint_leaves_the_old_run(tiny_backbone_dir, reference_run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(reference_run, output)
    before = (output / "inference.safetensors").read_bytes()
    killed = train(tiny_backbone_dir, output, "--overwrite", "--seed", "5", launcher=killed_after(7))
    assert killed.returncode == -9  # after the checkpoint of step 5, with the old run moved aside
    predicted = ptune_here("predict", "--adapter", output, "a fine film")
    assert predicted.returncode == 0, predicted.stderr
    assert "interrupted before it finished" in predicted.stderr and "back in place" in predicted.stderr
    assert (output / "inference.safetensors").read_bytes() == before
    assert metrics(output) == metrics(reference_run)
    aside = list(output.glob(".interrupted-*"))
    assert len(aside) == 1 and (aside[0] / "checkpoints").exists()  # the unfinished run is kept, not deleted


def test_a_run_that_stopped_before_its_first_checkpoint_is_not_a_dead_end(tiny_backbone_dir, tmp_path):
    output = tmp_path / "run"
    assert train(tiny_backbone_dir, output, launcher=killed_after(2)).returncode == -9  # before step 5's checkpoint
    resumed = train_here(tiny_backbone_dir, output, "--resume")
    assert resumed.returncode == 2 and "without --resume" in resumed.stderr
    again = train_here(tiny_backbone_dir, output)
    assert again.returncode == 0, again.stderr
    assert "stopped before its first checkpoint" in again.stderr and metrics(output)["steps"] == 30


def test_a_small_data_set_without_epochs_trains_100_steps(tiny_backbone_dir, tmp_path):
    """The bundled sample's training file is small: one epoch of batch 16 is a few steps."""
    result = ptune_here("train", "--model", tiny_backbone_dir, "--data", DEMO, "--output", tmp_path / "run",
                   "--batch-size", "16", "--eval-every", "50", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["steps"] == saved["steps_total"] == 100
    assert "training 100 steps" in result.stderr + result.stdout
    exact = ptune_here("train", "--model", tiny_backbone_dir, "--data", DEMO, "--output", tmp_path / "exact",
                  "--batch-size", "16", "--epochs", "1", "--no-progress")
    assert exact.returncode == 0 and json.loads((tmp_path / "exact" / "metrics.json").read_text())["steps_total"] < 100
