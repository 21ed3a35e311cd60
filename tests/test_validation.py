"""NaN and infinity are refused by every config (they pass every `x < 0` check), and a run that goes
non-finite stops at that step, saying so, with nothing non-finite saved."""
import dataclasses
import math

import pytest
import torch

from conftest import DEMO
from ptune.config import TrainConfig
from ptune.encoders import ENCODERS
from ptune.errors import ConfigError, PtuneError
from ptune.serve.config import ServeConfig
from ptune.tasks import TASKS

CONFIGS = [TrainConfig, ServeConfig, *(cls for cls, _ in ENCODERS.values()), *(t.config_cls for t in TASKS.values())]


def float_fields(cls):
    return [f.name for f in dataclasses.fields(cls) if "float" in str(f.type)]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_float_setting_must_be_finite(cls, value):
    names = float_fields(cls)
    assert names or cls.__name__ == "EmbeddingEncoderConfig", cls  # the check covers something
    for name in names:
        with pytest.raises(ConfigError, match=rf"{name}=(nan|inf|-inf): expected a finite number"):
            cls(**{name: value})


def test_multitask_and_protocol_settings_must_be_finite():
    from ptune.lab.compare.protocol import ProtocolConfig
    from ptune.training.multitask import MultiTaskConfig, TaskSpec
    from ptune.training.run import DataConfig

    spec = TaskSpec(name="a", data=DataConfig(train=str(DEMO)))
    with pytest.raises(ConfigError, match="temperature=nan"):
        MultiTaskConfig(tasks=[spec], output="o", temperature=math.nan)
    with pytest.raises(ConfigError, match="invalid task 'a':\n  - epochs=inf: expected a finite number"):
        dataclasses.replace(spec, epochs=math.inf)  # a task checks itself, before any run holds it
    with pytest.raises(ConfigError, match="epochs=nan"):
        ProtocolConfig(data=str(DEMO), epochs=math.nan)


@pytest.mark.parametrize("flags, message", [
    (["--max-grad-norm", "nan"], "max_grad_norm=nan: expected a finite number"),
    (["--weight-decay", "nan"], "weight_decay=nan"),
    (["--epochs", "nan"], "epochs=nan"),
    (["--epochs", "1e12"], "at most 10000"),
    (["--encoder", "mlp", "--encoder-hidden-mult", "nan"], "hidden_mult=nan"),
])
def test_the_cli_refuses_them_in_one_line_before_touching_the_output(flags, message, tmp_path, capsys):
    from ptune.cli import main

    assert main(["train", "--data", str(DEMO), "--output", str(tmp_path / "run"), *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "run").exists()


def test_a_run_that_goes_non_finite_stops_at_that_step_and_saves_nothing_non_finite(tiny_backbone_dir, tmp_path,
                                                                                   monkeypatch):
    from safetensors.torch import load_file

    from ptune.tasks.classification import ClassificationTask
    from ptune.settings import resolve
    from ptune.training.run import DataConfig, RunConfig, train

    real_loss, calls = ClassificationTask.loss, {"n": 0}

    def loss_that_breaks_at_step_7(self, logits, batch):
        calls["n"] += 1
        value = real_loss(self, logits, batch)
        return value * math.nan if calls["n"] == 7 else value

    monkeypatch.setattr(ClassificationTask, "loss", loss_that_breaks_at_step_7)
    resolved = resolve("classification", {"epochs": 1, "batch_size": 16, "eval_every": 5, "num_virtual_tokens": 2,
                                          "precision": "fp32"})
    run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(DEMO)), output=str(tmp_path / "run"),
                    ptuning=resolved.ptuning, training=resolved.training)
    with pytest.raises(PtuneError, match="non-finite at step 7: loss nan"):
        train(run, show_progress=False, log=lambda m: None)
    saved = load_file(tmp_path / "run" / "inference.safetensors")  # the best adapter, of step 5
    assert all(torch.isfinite(t).all() for t in saved.values())


def test_save_adapter_refuses_non_finite_tensors(tiny_bert, tmp_path):
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel
    from ptune.errors import ArtifactError

    model = PTuningModel(tiny_bert[0], PTuningConfig(num_virtual_tokens=2, max_length=16), num_labels=2)
    with torch.no_grad():
        model.head.out.weight[0, 0] = math.nan
    with pytest.raises(ArtifactError, match="head.out.weight hold NaN"):
        model.save_pretrained(tmp_path / "a", label_names=["a", "b"])
    assert not (tmp_path / "a" / "ptune_config.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["serve", "--adapter", "a=b", "--port", "70000"], "--port 70000: expected a TCP port"),
    (["serve", "--adapter", "a=b", "--max-wait-ms", "nan"], "max_wait_ms=nan"),
    (["eval", "--adapter", "a", "--data", "d", "--base-train-samples", "-5"], "--base-train-samples -5"),
    (["train", "--task", "qa", "--data", "d", "--doc-stride", "400", "--output", "OUT"], "doc_stride=400"),
    (["train", "--task", "qa", "--data", "d", "--no-answer-threshold", "nan", "--output", "OUT"],
     "no_answer_threshold=nan"),
    (["multitask", "--task", "a=classification:d", "--output", "OUT", "--temperature", "nan"], "temperature=nan"),
])
def test_meaningless_settings_are_one_clear_error(argv, message, tmp_path, capsys):
    from ptune.cli import main

    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
