"""The one resolver: `ptune train` with no flags, the Python API, a compare cell and a multi-task
spec resolve to the same complete settings, and those are what ptune.defaults says."""
import json

import pytest

from ptune import defaults
from ptune.cli import build_parser
from ptune.cli.train import run_config_from_args
from ptune.config import PTuningConfig, TrainConfig
from ptune.defaults import SMALL_DATA_MIN_STEPS
from ptune.errors import ConfigError
from ptune.settings import Resolved, flat_settings, resolve, resolve_ptuning, resolve_training

TASKS = ["classification", "token_classification", "question_answering"]


def cli_run(*flags):
    args = build_parser().parse_args(["train", *flags])
    args.argv = ["train", *flags]
    return run_config_from_args(args)


def expected_from_defaults(task: str, rows: int, inputs: str = "text") -> dict:
    injection = defaults.default_injection(task)
    encoder = defaults.default_encoder(injection, task, inputs)
    return {"injection": injection, "num_virtual_tokens": defaults.default_prompt_length(task, injection),
            "max_length": defaults.default_max_length(task), "encoder": encoder,
            "lr": defaults.default_learning_rate(task, injection, encoder.name),
            **defaults.default_start(task, rows, train_labels=2)}


def decided(run, rows: int, inputs: str = "text"):
    """The run's training settings once it has read its training rows, of two labels (as ptune.train does)."""
    return resolve_training(run.training, resolve_ptuning(run.ptuning, inputs=inputs), train_rows=rows,
                            train_labels=2)


@pytest.mark.parametrize("rows", [200, 14_041])
@pytest.mark.parametrize("task", TASKS)
def test_cli_with_no_flags_trains_what_defaults_py_says(task, rows):
    run = cli_run("--task", task, "--data", "some/folder")
    expected = expected_from_defaults(task, rows)
    training = decided(run, rows)
    assert run.ptuning.injection == expected["injection"] == "deep"
    assert run.ptuning.num_virtual_tokens == expected["num_virtual_tokens"]
    assert run.ptuning.max_length == expected["max_length"]
    assert training.lr == expected["lr"]
    assert run.training.lr is None  # the command line decides no training setting: the run does, once
    probe = expected["head_init"] == "probe"
    assert training.head_lr == (defaults.PROBE_HEAD_LR if probe else expected["lr"])
    assert training.head_init == expected["head_init"] and training.choose_layer == expected["choose_layer"]
    # the measured start recipe: token classification on small data only
    assert (task == "token_classification" and rows <= 1_000) == probe == training.choose_layer
    # sentence classification's encoder waits for the rows (pairs or not); free rows for single texts
    assert (run.ptuning.encoder is None) == (task == "classification")
    encoder = resolve_ptuning(run.ptuning, inputs="text").encoder
    assert encoder == expected["encoder"] and encoder.name == "embedding" and encoder.init == "random"


@pytest.mark.parametrize("rows", [32, 2_490])
def test_sentence_pairs_get_deep_prompts_made_by_the_mlp_at_its_own_rate(rows):
    run = cli_run("--data", "some/folder")
    expected = expected_from_defaults("classification", rows, inputs="pair")
    ptuning = resolve_ptuning(run.ptuning, inputs="pair")
    assert ptuning.encoder == expected["encoder"] == defaults.PAIR_ENCODERS["classification", "deep"]()
    assert ptuning.encoder.name == "mlp"
    training = decided(run, rows, inputs="pair")
    assert training.lr == expected["lr"] == defaults.DEEP_WITH_ENCODER_NETWORK_LR
    assert training.head_lr == (defaults.PROBE_HEAD_LR if expected["head_init"] == "probe" else training.lr)
    # the user's encoder wins, and so does a setting of the default's own (it decides free rows now)
    assert resolve_ptuning(cli_run("--data", "d", "--encoder", "embedding").ptuning, inputs="pair").encoder.name == "embedding"
    fields = cli_run("--data", "d", "--encoder-init", "zero").ptuning.encoder
    assert fields is not None and fields.name == "embedding" and fields.init == "zero"
    # other tasks and input-level prompts do not depend on the input form
    assert resolve("classification", {"injection": "input"}, inputs="pair").ptuning.encoder.name == "mlp"
    assert resolve("classification", {"injection": "input"}, inputs="pair").training.lr == 5e-3
    assert resolve("token_classification", inputs="pair").ptuning.encoder.name == "embedding"
    undecided = resolve_training(run.training, run.ptuning, train_rows=rows)
    assert undecided.lr is None  # the rate waits with the encoder it depends on
    with pytest.raises(ConfigError, match="inputs='pairs'"):
        resolve("classification", inputs="pairs")


def test_a_given_layer_or_start_wins_over_the_recipe():
    run = cli_run("--task", "ner", "--data", "some/folder", "--layer", "2")
    training = decided(run, 200)
    assert training.choose_layer is False and run.ptuning.task.layer == 2 and training.head_init == "probe"
    run = cli_run("--task", "ner", "--data", "some/folder", "--head-init", "random", "--no-choose-layer")
    training = resolve_training(run.training, run.ptuning)
    assert training.head_init == "random" and training.choose_layer is False  # decided: no rows needed
    assert training.head_lr == training.lr
    given = resolve("token_classification", {"head_init": "random"})
    assert decided(given, 200).to_dict()["choose_layer"] is True


@pytest.mark.parametrize("inputs", ["text", "pair"])
@pytest.mark.parametrize("task", TASKS)
def test_cli_api_and_multitask_spec_resolve_the_same(task, inputs):
    from ptune.tasks import get_task
    from ptune.training.multitask import MultiTaskConfig, TaskSpec

    cli = cli_run("--task", task, "--data", "some/folder")
    api = resolve(task, inputs=inputs)
    bare = PTuningConfig(task=get_task(task).config_cls())
    # the dataclass fills in nothing that depends on another setting: the resolver alone does
    assert (bare.injection, bare.encoder, bare.num_virtual_tokens, bare.max_length) == (None, None, None, None)
    config = resolve_ptuning(bare, inputs=inputs)
    cli_ptuning = resolve_ptuning(cli.ptuning, inputs=inputs)  # what the run decides on its rows
    assert cli_ptuning.to_dict() == api.ptuning.to_dict() == config.to_dict()
    settled = resolve_training(api.training, config, train_rows=5_000)
    assert resolve_ptuning(config) is config and resolve_training(settled, config) is settled
    # The dataclass defaults, and a budget of at least 100 steps, as no --epochs was given.
    expected = resolve_training(TrainConfig(min_steps=SMALL_DATA_MIN_STEPS), config)
    assert resolve_training(cli.training, cli_ptuning).to_dict() == api.training.to_dict() == expected.to_dict()
    spec = TaskSpec.from_dict({"name": "t", "task": task, "data": "some/folder"})
    assert spec.ptuning == cli.ptuning  # the same settings given, the same left to the rows
    spec.ptuning = resolve_ptuning(spec.ptuning, inputs=inputs)  # as load_task decides it on the task's rows
    assert spec.ptuning.to_dict() == api.ptuning.to_dict()
    run = MultiTaskConfig(tasks=[spec], output="out")
    assert run.train_config(spec).lr == api.training.lr


@pytest.mark.parametrize("inputs", ["text", "pair"])
@pytest.mark.parametrize("task", TASKS)
def test_compare_cell_builds_the_resolved_default(task, inputs, tiny_backbone_dir):
    from ptune.lab.compare.methods import BuildContext, parse_method
    from ptune.training.loop import learning_rates_for

    spec = parse_method("ptune")
    context = BuildContext(model_name=str(tiny_backbone_dir), model_path=str(tiny_backbone_dir), num_labels=3,
                           seed=0, max_length=40, task=task, inputs=inputs)
    model = spec.method.build(context, spec.model_settings)
    api = resolve(task, {"max_length": 40}, inputs=inputs)
    assert model.config.to_dict() == api.ptuning.to_dict()
    assert learning_rates_for(model, TrainConfig()).lr == api.training.lr  # what a compare cell trains with


def test_small_data_trains_at_least_100_steps_unless_epochs_are_given():
    assert resolve("classification").training.min_steps == SMALL_DATA_MIN_STEPS == 100
    assert resolve("classification", {"epochs": 2}).training.min_steps == 0  # exactly the epochs asked for
    assert resolve("classification", {"min_steps": 7}).training.min_steps == 7


def test_user_settings_win_and_an_encoder_default_keeps_its_other_fields():
    resolved = resolve("classification", {"injection": "input", "lr": 1e-3, "encoder_depth": 3, "num_virtual_tokens": 7})
    assert resolved.ptuning.injection == "input" and resolved.ptuning.num_virtual_tokens == 7
    assert resolved.ptuning.encoder.name == "mlp" and resolved.ptuning.encoder.depth == 3
    assert resolved.training.lr == 1e-3
    assert resolve_training(resolved.training, resolved.ptuning, train_rows=1_000).head_lr == 1e-3  # the plain start
    # the deep default (free rows, random init) stays random when only its name is given
    assert resolve("classification", {"encoder": "embedding"}).ptuning.encoder.init == "random"
    # the compare syntax's bare encoder fields: ptune[encoder=lstm;num_layers=1]
    assert resolve("classification", {"encoder": "lstm", "num_layers": 1}).ptuning.encoder.num_layers == 1


def test_settings_that_do_not_apply_are_refused_by_name():
    with pytest.raises(ConfigError, match="depth"):
        resolve("classification", {"encoder": "lstm", "encoder_depth": 2})
    with pytest.raises(ConfigError, match="doc_stride"):
        resolve("classification", {"doc_stride": 64})
    with pytest.raises(ConfigError, match="colour"):
        resolve("classification", {"colour": "red"})


def test_print_config_round_trips_through_config(tmp_path, capsys):
    from ptune.cli import main

    assert main(["train", "--task", "ner", "--data", "d", "--output", str(tmp_path / "r"), "--epochs", "3",
                 "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ptuning"]["num_virtual_tokens"] == 50 and printed["training"]["epochs"] == 3
    assert not (tmp_path / "r").exists()  # printing trains nothing and touches no folder
    path = tmp_path / "run.json"
    path.write_text(json.dumps(printed))
    again = cli_run("--config", str(path))
    flags = cli_run("--task", "ner", "--data", "d", "--output", str(tmp_path / "r"), "--epochs", "3")
    assert again.ptuning == flags.ptuning and again.data == flags.data and again.output == flags.output
    assert resolve_training(again.training, again.ptuning) == resolve_training(flags.training, flags.ptuning)
    # a flag wins over the file
    assert cli_run("--config", str(path), "--epochs", "5").training.epochs == 5


def test_config_accepts_yaml(tmp_path):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {"train": "d"}, "ptuning": {"injection": "input"}, "training": {"lr": 0.002}}))
    run = cli_run("--config", str(path))
    assert run.ptuning.injection == "input" and run.ptuning.num_virtual_tokens == 20 and run.training.lr == 0.002


def test_a_bad_config_file_is_one_clear_error(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"ptuning": {}, "optimiser": {}}))
    with pytest.raises(ConfigError, match="optimiser"):
        cli_run("--config", str(path))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        cli_run("--config", str(path))


def test_flat_settings_inverts_the_printed_form():
    resolved = resolve("token_classification", {"injection": "input", "encoder": "lstm", "epochs": 2})
    flat = flat_settings(resolved.to_dict())
    task = flat.pop("task")
    assert resolve(task, flat) == Resolved(ptuning=resolved.ptuning, training=resolved.training)


def test_every_command_takes_a_config_file_of_its_options(tmp_path, capsys):
    from ptune.cli import main
    from ptune.cli.flags import apply_config_file

    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"adapter": "runs/x", "data": "d", "batch_size": 7, "precision": "fp32"}))
    parser = build_parser()
    argv = ["eval", "--config", str(path), "--batch-size", "9"]
    apply_config_file(parser, argv)
    args = parser.parse_args(argv)
    assert (args.adapter, args.data, args.precision) == ("runs/x", "d", "fp32") and args.batch_size == 9
    path.write_text(json.dumps({"adapter": "runs/x", "epochs": 3}))
    assert main(["predict", "--config", str(path), "x"]) == 2
    assert "['epochs'] are not options of `ptune predict`" in capsys.readouterr().err


def test_a_start_that_depends_on_the_data_size_is_decided_on_the_rows(monkeypatch):
    monkeypatch.setitem(defaults.RECIPE_MAX_TRAIN_ROWS, "token_classification", 100)
    undecided = resolve("token_classification").training
    assert undecided.head_init is None and undecided.choose_layer is None and undecided.head_lr is None
    assert undecided.lr == defaults.default_learning_rate("token_classification", "deep", "embedding")
    ptuning = resolve("token_classification").ptuning
    small = resolve_training(undecided, ptuning, train_rows=100)
    assert (small.head_init, small.choose_layer, small.head_lr) == ("probe", True, defaults.PROBE_HEAD_LR)
    large = resolve_training(undecided, ptuning, train_rows=101)
    assert (large.head_init, large.choose_layer, large.head_lr) == ("random", False, large.lr)
    given = resolve("token_classification", {"head_init": "probe", "choose_layer": False}).training
    assert (given.head_init, given.choose_layer) == ("probe", False)  # what the user set is decided already
    assert resolve("question_answering").training.head_init == "random"  # a task without a recipe: no size rule
    # what a task's recipe does not name is decided whatever the size: a tagger never trains on pairs
    assert resolve("token_classification").training.contrastive_steps == 0


def test_small_sentence_sets_start_with_the_layer_choice_and_the_probe_head():
    resolved = resolve("classification")
    assert (resolved.training.head_init, resolved.training.choose_layer) == (None, None)  # waits for the data
    limit = defaults.RECIPE_MAX_TRAIN_ROWS["classification"]
    decide = lambda rows, labels, training=resolved.training: resolve_training(  # noqa: E731
        training, resolved.ptuning, train_rows=rows, train_labels=labels)
    for labels in (2, 6):
        small = decide(limit, labels)
        assert (small.head_init, small.choose_layer, small.contrastive_steps) == ("probe", True, 0), labels
        assert small.head_lr == defaults.PROBE_HEAD_LR and small.lr == resolved.training.lr
    for rows, labels in ((limit + 1, 6), (limit, 1), (limit + 1, None), (None, 1)):  # one count settles it
        plain = decide(rows, labels)
        assert (plain.head_init, plain.choose_layer, plain.head_lr) == ("random", False, plain.lr), (rows, labels)
    assert decide(limit, None).head_init is None and decide(None, 6).head_init is None  # the other count is needed
    off = resolve("classification", {"choose_layer": False})
    assert decide(32, 6, off.training).choose_layer is False  # the user's setting wins
    pairs = resolve("classification", {"contrastive_steps": 200})
    assert decide(32, 6, pairs.training).contrastive_steps == 200  # an option, off by default
    cloze = resolve("classification", {"head": "cloze", "label_words": {"0": "bad", "1": "good"}})
    assert (cloze.training.head_init, cloze.training.choose_layer) == ("random", False)  # a cloze head: plain
    transfer = resolve("classification", {"init_from": "runs/sst2"}).training
    assert (transfer.head_init, transfer.choose_layer) == ("random", False)  # started as the other adapter


def test_print_config_decides_the_start_on_the_datas_rows(monkeypatch, capsys, tmp_path):
    from ptune.cli.train import cmd_train

    monkeypatch.setitem(defaults.RECIPE_MAX_TRAIN_ROWS, "token_classification", 100)
    conll = tmp_path / "train.txt"
    conll.write_text("EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\n" * 150)
    for rows, start in ((100, "probe"), (101, "random")):
        args = build_parser().parse_args(["train", "--task", "ner", "--data", str(conll), "--max-train-samples",
                                          str(rows), "--print-config"])
        args.argv = ["train"]
        assert cmd_train(args) == 0
        printed = json.loads(capsys.readouterr().out)["training"]
        assert printed["head_init"] == start and printed["choose_layer"] is (start == "probe")


def test_print_config_decides_the_sentence_start_on_the_datas_rows_and_labels(capsys, tmp_path):
    from ptune.cli.train import cmd_train

    rows = tmp_path / "train.tsv"
    rows.write_text("sentence\tlabel\n" + "".join(f"question number {i}\t{'abc'[i % 3]}\n" for i in range(120)))
    for limit, labels_seen, recipe in (("60", 3, True), ("2", 2, True), ("1", 1, False), ("120", 3, False)):
        args = build_parser().parse_args(["train", "--data", str(rows), "--max-train-samples", limit, "--print-config"])
        args.argv = ["train"]
        assert cmd_train(args) == 0
        printed = json.loads(capsys.readouterr().out)["training"]
        assert printed["choose_layer"] is recipe, (limit, labels_seen)
        assert printed["head_init"] == ("probe" if recipe else "random") and printed["contrastive_steps"] == 0


def test_a_run_decides_its_training_settings_in_one_call(monkeypatch, capsys):
    """The command line passes training settings on as given; the run decides them once, on its rows."""
    import ptune.settings
    import ptune.training.run
    from ptune.cli import main

    calls = []
    real = ptune.settings.resolve_training

    def counted(*args, **kwargs):
        calls.append(kwargs.get("train_rows"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ptune.settings, "resolve_training", counted)
    monkeypatch.setattr(ptune.training.run, "resolve_training", counted)
    assert main(["train", "--print-config"]) == 0  # the bundled sample: 233 rows, read to decide the start
    printed = json.loads(capsys.readouterr().out)["training"]
    assert calls == [233] and None not in (printed["lr"], printed["head_init"], printed["contrastive_steps"])


def write_pair_rows(path, rows: int = 24):
    from conftest import DEMO

    sentences = [line.split("\t", 1)[1] for line in (DEMO / "train.tsv").read_text().splitlines()[1:rows + 2]]
    lines = ["sentence1\tsentence2\tlabel"] + [
        f"{sentences[i]}\t{sentences[i] if i % 2 else sentences[i + 1]}\t{'same' if i % 2 else 'different'}"
        for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_run_decides_the_pair_encoder_on_its_rows_the_same_from_cli_api_and_multitask(
        tiny_bert, tiny_backbone_dir, tmp_path, capsys):
    from ptune.cli import main
    from ptune.training.configs import DataConfig, RunConfig
    from ptune.training.multitask import MultiTaskConfig, TaskSpec, load_task
    from ptune.training.run import train

    pairs = write_pair_rows(tmp_path / "pairs.tsv")
    assert main(["train", "--data", str(pairs), "--print-config"]) == 0  # reads the rows to decide
    printed = json.loads(capsys.readouterr().out)
    assert printed["ptuning"]["encoder"]["type"] == "mlp"
    assert printed["training"]["lr"] == defaults.DEEP_WITH_ENCODER_NETWORK_LR
    said = []
    run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(pairs)), output=str(tmp_path / "run"),
                    ptuning=PTuningConfig(num_virtual_tokens=4, max_length=32),
                    training=TrainConfig(batch_size=8, min_steps=3, precision="fp32"))
    train(run, log=said.append, show_progress=False)
    saved = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert saved["ptuning"]["encoder"] == printed["ptuning"]["encoder"]
    assert saved["training"]["lr"] == printed["training"]["lr"]
    assert json.loads((tmp_path / "run" / "ptune_config.json").read_text())["inputs"] == "pair"
    assert any("sentence pairs: deep prompts made by the mlp encoder" in line for line in said)
    backbone, tokenizer = tiny_bert
    spec = TaskSpec.from_dict({"name": "pairs", "data": {"train": str(pairs), "dev": str(pairs)},
                               "ptuning": {"num_virtual_tokens": 4}})
    multitask = MultiTaskConfig(tasks=[spec], output=str(tmp_path / "mt"), model=str(tiny_backbone_dir)).resolved()
    state = load_task(multitask.tasks[0], backbone=backbone, tokenizer=tokenizer, run=multitask, log=said.append)
    assert state.model.config.encoder.to_dict() == saved["ptuning"]["encoder"]
    assert state.config.lr == saved["training"]["lr"]
    # single sentences keep free rows, and a named encoder is kept on pairs
    single = tmp_path / "single.tsv"
    single.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n")
    assert main(["train", "--data", str(single), "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["ptuning"]["encoder"]["type"] == "embedding"
    assert main(["train", "--data", str(pairs), "--encoder", "embedding", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["ptuning"]["encoder"]["type"] == "embedding"
