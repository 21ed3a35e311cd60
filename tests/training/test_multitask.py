"""Multi-task training: tasks of different kinds trained jointly on one frozen backbone, with
sampling, per-task evaluation and early stopping, per-task adapters, and a shared encoder."""
import json
import sys
from collections import Counter

import pytest
import torch

from agreement import answers_agree
from conftest import DEMO
from ptune.engine.bank import AdapterBank
from ptune.cli import main
from ptune.config import TrainConfig
from ptune.config import PTuningConfig
from ptune.errors import ConfigError, PtuneError
from ptune.inference.predictor import Predictor
from ptune.training.multitask import MultiTaskConfig, TaskSampler, TaskSpec, train_multitask
from ptune.training.run import DataConfig

SENTENCES = [line.split("\t", 1)[1] for line in (DEMO / "train.tsv").read_text().splitlines()[1:]]


def write_pairs(folder, rows: int):
    """A tiny entailment-style pair task from the demo sentences: is the pair the same sentence?"""
    folder.mkdir()
    for split, start in (("train", 0), ("dev", 120)):
        lines = ["sentence1\tsentence2\tlabel"]
        for i in range(start, start + rows):
            a = SENTENCES[i]
            b = a if i % 2 else SENTENCES[i + 1]
            lines.append(f"{a}\t{b}\t{'same' if i % 2 else 'different'}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_tags(folder, sentences: int):
    """A tiny tagging task: capitalised words are entities."""
    folder.mkdir()
    for split, start in (("train", 0), ("dev", 150)):
        blocks = []
        for sentence in SENTENCES[start:start + sentences]:
            words = sentence.replace(",", " ,").replace(".", " .").split()
            blocks.append("\n".join(f"{w} {'B-X' if w[:1].isupper() and i else 'O'}" for i, w in enumerate(words)))
        (folder / f"{split}.txt").write_text("\n\n".join(blocks) + "\n")
    return folder


@pytest.fixture()
def specs(tmp_path):
    return [
        TaskSpec(name="sentiment", data=DataConfig(train=str(DEMO)), ptuning=PTuningConfig(num_virtual_tokens=4),
                 epochs=2, batch_size=16),
        TaskSpec(name="pairs", data=DataConfig(train=str(write_pairs(tmp_path / "pairs", 40))),
                 ptuning=PTuningConfig(num_virtual_tokens=3, injection="input"), epochs=2, batch_size=8),
        TaskSpec(name="tags", data=DataConfig(train=str(write_tags(tmp_path / "tags", 40))),
                 ptuning=PTuningConfig.from_dict({"task": {"type": "token_classification"}, "injection": "deep",
                                                  "num_virtual_tokens": 5}), epochs=1, batch_size=8),
    ]


def test_joint_training_writes_one_working_adapter_per_task(specs, tiny_backbone_dir, tmp_path):
    run = MultiTaskConfig(tasks=specs, output=str(tmp_path / "joint"), model=str(tiny_backbone_dir), eval_every=5,
                          precision="fp32")
    metrics = train_multitask(run, show_progress=False)
    assert set(metrics["tasks"]) == {"sentiment", "pairs", "tags"}
    planned = {name: t["planned_steps"] for name, t in metrics["tasks"].items()}
    assert planned == {"sentiment": 30, "pairs": 10, "tags": 5}
    assert metrics["steps"] == 45 == sum(t["steps_trained"] for t in metrics["tasks"].values())
    assert metrics["tasks"]["tags"]["metric"] == "f1" and metrics["tasks"]["sentiment"]["metric"] == "accuracy"
    log = [json.loads(line) for line in (tmp_path / "joint" / "train_log.jsonl").read_text().splitlines()]
    assert {e["task"] for e in log if "eval" in e} == {"sentiment", "pairs", "tags"}
    for name, result in metrics["tasks"].items():
        folder = tmp_path / "joint" / name
        config = json.loads((folder / "ptune_config.json").read_text())
        assert config["dev_metrics"] == result["best_dev"] and (folder / "README.md").exists()
        assert config["training"]["multitask"]["tasks"] == ["sentiment", "pairs", "tags"]
    assert json.loads((tmp_path / "joint" / "pairs" / "ptune_config.json").read_text())["inputs"] == "pair"
    # The saved adapters are the best ones: evaluating them alone reproduces the recorded scores.
    predictor = Predictor(tmp_path / "joint" / "sentiment", model_name=str(tiny_backbone_dir))
    from ptune.inference.evaluation import evaluate_adapter

    score = evaluate_adapter(tmp_path / "joint" / "sentiment", data=str(DEMO), model_name=str(tiny_backbone_dir))
    assert score["metrics"]["accuracy"] == pytest.approx(metrics["tasks"]["sentiment"]["best_dev"]["accuracy"])
    # ... and they all load onto one backbone, the folder served as it is.
    bank = AdapterBank.from_adapters({n: tmp_path / "joint" / n for n in metrics["tasks"]}, model_name=str(tiny_backbone_dir))
    assert len(bank) == 3
    assert answers_agree(predictor.predict(["a fine film"])[0], bank.predict([("sentiment", "a fine film")])[0], atol=1e-5)


def schedule_for(sampler):
    from ptune.training.loop import Member, Schedule

    members = [Member(name=n, model=None, train_features=[{"input_ids": [1, 2]}] * 64, dev_features=[],
                      config=TrainConfig(batch_size=8), label_names=[], task=None, metric="accuracy")
               for n in sampler.weights]
    return Schedule(members, seed=0, weights=sampler.weights)


def test_sampling_follows_planned_steps_or_temperature():
    planned = {"big": 900, "small": 100}

    def draws(sampler, stopped=None):
        schedule = schedule_for(sampler)
        return Counter(schedule.next(stopped or {})[0] for _ in range(20000))

    proportional = TaskSampler(planned, sampling="proportional", temperature=2, seed=0)
    assert proportional.probabilities() == {"big": 0.9, "small": 0.1}
    assert draws(proportional)["small"] / 20000 == pytest.approx(0.1, abs=0.01)
    tempered = TaskSampler(planned, sampling="temperature", temperature=2, seed=0)
    assert tempered.probabilities()["small"] == pytest.approx(10 / (30 + 10))
    assert TaskSampler(planned, sampling="uniform", temperature=2, seed=0).probabilities() == {"big": 0.5, "small": 0.5}
    assert set(draws(tempered, stopped={"big": 0})) == {"small"}  # a stopped task is not drawn again
    assert TaskSampler(planned, sampling="temperature", temperature=1, seed=0).probabilities() == \
        proportional.probabilities()


def test_a_resumed_schedule_replays_the_same_draws_and_batches():
    sampler = TaskSampler({"a": 30, "b": 10}, sampling="proportional", temperature=1)
    straight = schedule_for(sampler)
    sequence = [straight.next({"b": 40}) for _ in range(60)]
    resumed = schedule_for(sampler)
    resumed.fast_forward(25, {"b": 40})
    assert [resumed.next({"b": 40}) for _ in range(35)] == sequence[25:]


def test_a_task_out_of_patience_stops_being_sampled(specs, tiny_backbone_dir, tmp_path, monkeypatch):
    import ptune.training.loop as loop

    real = loop.evaluate

    def flat_for_pairs(model, features, **kwargs):  # "pairs" never improves after its first evaluation
        metrics = real(model, features, **kwargs)
        return {**metrics, "accuracy": 0.5} if len(features) == 40 else metrics

    monkeypatch.setattr(loop, "evaluate", flat_for_pairs)
    run = MultiTaskConfig(tasks=specs, output=str(tmp_path / "joint"), model=str(tiny_backbone_dir), eval_every=4,
                          patience=2, precision="fp32", sampling="uniform")
    metrics = train_multitask(run, show_progress=False)
    pairs = metrics["tasks"]["pairs"]
    assert pairs["stopped_at"] == 12 and pairs["best_step"] == 4
    log = [json.loads(line) for line in (tmp_path / "joint" / "train_log.jsonl").read_text().splitlines()]
    assert all(e["task"] != "pairs" for e in log if "loss" in e and e["step"] > 12)


def test_a_task_drawn_for_no_step_gets_no_adapter_and_a_warning(specs, tiny_backbone_dir, tmp_path):
    run = MultiTaskConfig(tasks=specs, output=str(tmp_path / "joint"), model=str(tiny_backbone_dir), steps=2,
                          eval_every=1, precision="fp32")
    said = []
    metrics = train_multitask(run, show_progress=False, log=said.append)
    untrained = [name for name, task in metrics["tasks"].items() if task["steps_trained"] == 0]
    assert untrained  # two steps over three tasks
    for name in untrained:
        assert metrics["tasks"][name]["best_dev"] == {} and metrics["tasks"][name]["best_step"] is None
        assert not (tmp_path / "joint" / name / "ptune_config.json").exists()
        assert any(f"task {name!r} was drawn for none of the 2 steps" in line for line in said)
    for name in set(metrics["tasks"]) - set(untrained):
        assert (tmp_path / "joint" / name / "ptune_config.json").exists()
    log = [json.loads(line) for line in (tmp_path / "joint" / "train_log.jsonl").read_text().splitlines()]
    assert not any("eval" in entry and entry["task"] in untrained for entry in log)  # no dev pass for them


def test_a_shared_encoder_is_one_network_with_per_task_embeddings(specs, tiny_backbone_dir, tmp_path):
    mlp = {"type": "mlp", "init": "random", "residual": False}
    for spec in specs:
        spec.ptuning = PTuningConfig(num_virtual_tokens=spec.ptuning.num_virtual_tokens, injection="deep", encoder=mlp,
                                     task=spec.ptuning.task)
    shared = train_multitask(MultiTaskConfig(tasks=specs, output=str(tmp_path / "shared"), model=str(tiny_backbone_dir),
                                             shared_encoder=True, steps=12, eval_every=12, precision="fp32"),
                             show_progress=False)
    separate = train_multitask(MultiTaskConfig(tasks=specs, output=str(tmp_path / "separate"), steps=12,
                                               model=str(tiny_backbone_dir), precision="fp32"), show_progress=False)
    network = shared["parameters_shared_away"] // 2
    assert network > 0 and shared["trainable_parameters"] == separate["trainable_parameters"] - 2 * network
    # Saved at the same step (one evaluation), every adapter holds the one network the tasks shared
    # and its own embeddings.
    from safetensors.torch import load_file

    saved = [load_file(tmp_path / "shared" / s.name / "prompt_encoder.safetensors") for s in specs]
    for name in saved[0]:
        if not name.startswith("embedding"):
            assert all(torch.equal(saved[0][name], other[name]) for other in saved[1:])
    assert saved[0]["embedding.weight"].shape[0] == 4 and saved[2]["embedding.weight"].shape[0] == 5


def test_a_shared_encoder_needs_a_network_and_one_injection(specs, tmp_path):
    with pytest.raises(ConfigError, match="embedding. encoder has no network"):
        MultiTaskConfig(tasks=[specs[0], specs[2]], output=str(tmp_path), shared_encoder=True)
    with pytest.raises(ConfigError, match="one injection"):
        MultiTaskConfig(tasks=specs, output=str(tmp_path), shared_encoder=True)
    with pytest.raises(ConfigError, match="names must differ"):
        MultiTaskConfig(tasks=[specs[0], specs[0]], output=str(tmp_path))


def test_the_cli_trains_from_flags_and_never_overwrites_silently(tiny_backbone_dir, tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs", 24)
    args = ["multitask", "--model", str(tiny_backbone_dir), "--task", f"sentiment=classification:{DEMO}",
            "--task", f"pairs=classification:{pairs}", "--output", str(tmp_path / "run"), "--steps", "6",
            "--precision", "fp32", "--sampling", "temperature", "--temperature", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sentiment: best dev accuracy" in out and f"ptune serve --adapter-dir {tmp_path / 'run'}" in out
    before = (tmp_path / "run" / "sentiment" / "inference.safetensors").read_bytes()
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "run" / "sentiment" / "inference.safetensors").read_bytes() == before
    # A failing replacement (bad data) leaves the old run in place.
    broken = [a.replace(str(pairs), str(tmp_path / "missing")) for a in args] + ["--overwrite"]
    assert main(broken) == 2
    assert (tmp_path / "run" / "sentiment" / "inference.safetensors").read_bytes() == before
    assert main(["multitask", "--task", "x=classification", "--output", str(tmp_path / "o")]) == 2
    assert "NAME=TYPE:DATA" in capsys.readouterr().err


def test_a_spec_file_sets_per_task_settings(tmp_path):
    from ptune.cli import build_parser
    from ptune.cli.multitask import multitask_config

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tasks": {"sst2": {"data": "d/sst2", "train_size": 100, "epochs": 2, "lr": 0.01},
                                          "ner": {"data": {"train": "d/conll", "dev": "d/dev.txt"}, "task": "ner",
                                                  "batch_size": 8, "ptuning": {"num_virtual_tokens": 7}}},
                                "sampling": "temperature", "output": "runs/x"}))
    args = build_parser().parse_args(["multitask", "--spec", str(spec), "--temperature", "4"])
    args.argv = []
    run = multitask_config(args)
    sst2, ner = run.tasks
    assert (sst2.train_size, sst2.epochs, sst2.lr, sst2.ptuning.injection) == (100, 2, 0.01, "deep")
    assert ner.ptuning.task.name == "token_classification" and ner.ptuning.num_virtual_tokens == 7
    assert ner.data.dev == "d/dev.txt" and run.temperature == 4 and run.sampling == "temperature"
    spec.write_text(json.dumps({"tasks": {"a": {"data": "x", "epoch": 2}}, "output": "o"}))
    with pytest.raises(PtuneError, match="epoch"):
        multitask_config(args)


def test_tensorboard_gets_each_tasks_loss_and_dev_scores(specs, tiny_backbone_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = MultiTaskConfig(tasks=specs, output=str(tmp_path / "tb"), model=str(tiny_backbone_dir), steps=20,
                          eval_every=10, precision="fp32", report_to="tensorboard")
    train_multitask(run, show_progress=False)
    events = EventAccumulator(str(next((tmp_path / "tb" / "tensorboard").iterdir())))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"dev/sentiment/accuracy", "dev/pairs/accuracy", "dev/tags/f1"} <= scalars
    assert any(tag.startswith("train/") and tag.endswith("/loss") for tag in scalars)


def test_multitask_resume_after_kill_9_finishes_like_an_uninterrupted_run(tiny_backbone_dir, tmp_path):
    from helpers import killed_after, ptune, ptune_here

    pairs = write_pairs(tmp_path / "pairs", 24)
    tags = write_tags(tmp_path / "tags", 20)

    def run(output, *extra, launcher=None, here=False):  # here: a refusal, answered in this process
        arguments = ("multitask", "--model", tiny_backbone_dir, "--task", f"sentiment=classification:{DEMO}",
                     "--task", f"pairs=classification:{pairs}", "--task", f"tags=ner:{tags}", "--output", output,
                     "--steps", "24", "--eval-every", "8", "--precision", "fp32", *extra)
        return ptune_here(*arguments) if here else ptune(*arguments, launcher=launcher)

    reference = run(tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    killed = run(tmp_path / "killed", launcher=killed_after(13))
    assert killed.returncode == -9  # SIGKILL after the checkpoint of step 8
    assert not (tmp_path / "killed" / "metrics.json").exists()
    assert run(tmp_path / "killed", here=True).returncode == 2  # refused without --resume or --overwrite
    resumed = run(tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    def log(folder):  # every loss and evaluation, in order (timings aside)
        return [{k: v for k, v in json.loads(line).items() if k != "train_samples_per_s"}
                for line in (folder / "train_log.jsonl").read_text().splitlines()]

    assert log(tmp_path / "killed") == log(tmp_path / "reference")
    expected, got = (json.loads((folder / "metrics.json").read_text())["tasks"] for folder in
                     (tmp_path / "reference", tmp_path / "killed"))
    assert {n: (t["best_dev"], t["final_dev"], t["steps_trained"]) for n, t in got.items()} == \
        {n: (t["best_dev"], t["final_dev"], t["steps_trained"]) for n, t in expected.items()}
    for name in ("sentiment", "pairs", "tags"):
        assert (tmp_path / "killed" / name / "inference.safetensors").read_bytes() == \
            (tmp_path / "reference" / name / "inference.safetensors").read_bytes()
    changed = run(tmp_path / "killed", "--resume", "--seed", "3", here=True)
    assert changed.returncode == 2 and "settings differ" in changed.stderr


def test_multitask_under_two_cpu_processes(tiny_backbone_dir, tmp_path):
    """`ptune multitask` under torchrun: both processes draw the same tasks, each takes half of
    every batch, gradients are synced, and one set of adapters is written."""
    from helpers import ptune

    pairs = write_pairs(tmp_path / "pairs", 70)  # 3 batches of 32: one per process and epoch
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "ptune.cli"]
    result = ptune("multitask", "--model", tiny_backbone_dir, "--task", f"sentiment=classification:{DEMO}",
                   "--task", f"pairs=classification:{pairs}", "--output", tmp_path / "ddp", "--steps", "8",
                   "--eval-every", "4", "--precision", "fp32", launcher=torchrun)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 8
    assert sum(t["steps_trained"] for t in metrics["tasks"].values()) == 8
    for name in ("sentiment", "pairs"):
        assert (tmp_path / "ddp" / name / "inference.safetensors").exists()


def test_an_interrupted_multitask_overwrite_is_recovered_like_a_single_task_one(tiny_backbone_dir, tmp_path):
    """The one overwrite scheme (format.runs): a multi-task --overwrite killed mid-run leaves the old
    run aside; the next command into the folder puts it back, sets the unfinished run aside, and
    never touches a file the user keeps beside the run."""
    from helpers import killed_after, ptune, ptune_here

    output = tmp_path / "run"

    def run(*extra, launcher=None):
        args = ("multitask", "--model", tiny_backbone_dir, "--task", f"a=classification:{DEMO}", "--task",
                f"b=classification:{DEMO}", "--output", output, "--steps", "16", "--eval-every", "4",
                "--precision", "fp32", *extra)
        return ptune(*args, launcher=launcher) if launcher else ptune_here(*args)

    def snapshot():
        return {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*"))
                if p.is_file() and not p.relative_to(output).parts[0].startswith(".")}

    first = run()
    assert first.returncode == 0, first.stderr
    (output / "notes.txt").write_text("mine")
    before = snapshot()
    killed = run("--overwrite", "--seed", "3", launcher=killed_after(9))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(list(output.glob(".replaced-*"))) == 1 and (output / "notes.txt").read_text() == "mine"
    again = run()  # the old run comes back first; then, without --overwrite, the folder is refused
    assert again.returncode == 2 and "back in place" in again.stderr, again.stderr
    assert snapshot() == before
    assert not list(output.glob(".replaced-*"))
    (aside,) = output.glob(".interrupted-*")
    assert {"multitask_config.json", "checkpoints", "a", "b"} <= {p.name for p in aside.iterdir()}
