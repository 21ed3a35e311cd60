"""When a run evaluates: at most ten times by default, never scoring more dev examples than it
trains on, never a task not yet trained; and a run without a dev set keeps its last step."""
import json
import math

import pytest

from conftest import DEMO
from ptune.config import MAX_AUTO_EVALUATIONS, PTuningConfig, TrainConfig
from ptune.training.loop import auto_eval_every


def evaluations(total: int, every: int) -> int:
    return len({*range(every, total + 1, every), total})


@pytest.mark.parametrize("total, per_epoch, batch, dev", [
    (100, 2, 16, 872),      # 32 SST-2 rows: one evaluation, not a hundred
    (100, 13, 16, 3250),    # 200 CoNLL sentences
    (500, 500, 32, 872),    # sst2-minilm: once, at the epoch's end, as before
    (780, 156, 16, 277),    # rte-minilm: at each of its five epochs' ends, as before
    (5000, 3, 32, 50),      # many short epochs and a small dev set: ten evaluations, not 1,667
    (7, 7, 1, 1000),
])
def test_the_automatic_interval_keeps_within_ten_evaluations_and_the_training_examples(total, per_epoch, batch, dev):
    every = auto_eval_every(total, steps_per_epoch=per_epoch, samples_per_step=batch, dev_examples=dev)
    count = evaluations(total, every)
    assert 1 <= count <= MAX_AUTO_EVALUATIONS
    assert count == 1 or count * dev <= total * batch
    if per_epoch * MAX_AUTO_EVALUATIONS >= total and (total // per_epoch) * dev <= total * batch:
        assert every == per_epoch  # epochs' ends, where they fit, as before


def test_a_32_row_run_evaluates_at_most_ten_times_within_what_it_trains_on(tiny_bert, tmp_path):
    from ptune.data import LabelSet, load_examples, tokenize
    from ptune.engine.model import PTuningModel
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator

    backbone, tokenizer = tiny_bert
    examples = load_examples(DEMO, split="train")
    labels = LabelSet.from_examples(examples)
    features = tokenize(examples, tokenizer=tokenizer, max_length=32, labels=labels)
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=4, injection="deep", max_length=32),
                         num_labels=len(labels))
    config = TrainConfig(batch_size=16, min_steps=100, lr=1e-2, head_lr=1e-2, head_init="random", choose_layer=False)
    result = fit(model, train_features=features[:32], dev_features=features[32:], config=config, run_dir=tmp_path,
                 pad_token_id=tokenizer.pad_token_id, label_names=labels.names, accelerator=make_accelerator("fp32"),
                 show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    scored = [entry["step"] for entry in log if "eval" in entry]
    assert result.steps_total == 100 and scored[-1] == 100
    assert len(scored) <= MAX_AUTO_EVALUATIONS and len(scored) * len(features[32:]) <= 100 * 16
    assert len(scored) == 7  # 201 dev rows, 1,600 trained: seven passes fit, not 100 (one per step before)


def test_a_single_file_without_dev_data_trains_and_keeps_the_last_step(tiny_backbone_dir, tmp_path):
    from ptune.inference.predictor import Predictor
    from ptune.training.run import DataConfig, RunConfig, train

    rows = tmp_path / "rows.tsv"
    rows.write_text("".join((DEMO / "train.tsv").read_text().splitlines(keepends=True)[:41]))
    said = []
    run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(rows)), output=str(tmp_path / "run"),
                    ptuning=PTuningConfig(num_virtual_tokens=4, injection="deep", max_length=32),
                    training=TrainConfig(batch_size=16, min_steps=12, lr=1e-2, precision="fp32"))
    metrics = train(run, log=said.append, show_progress=False)
    assert any("training without a dev set, keeping the adapter of the last step" in line for line in said)
    assert metrics["steps"] == 12 and metrics["selection"] == "last step (no dev set)" and metrics["final_dev"] == {}
    saved = json.loads((tmp_path / "run" / "ptune_config.json").read_text())
    assert saved["selection"] == "last step (no dev set)" and saved["dev_metrics"] == {}
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert not any("eval" in entry for entry in log)
    answer = Predictor(tmp_path / "run", model_name=str(tiny_backbone_dir)).predict(["a fine film"])
    assert len(answer) == 1 and all(math.isfinite(p) for p in answer[0]["probabilities"].values())


def test_an_empty_dev_file_given_on_purpose_is_still_an_error(tiny_backbone_dir, tmp_path):
    from ptune.errors import DataError
    from ptune.training.run import DataConfig, RunConfig, train

    (tmp_path / "dev.tsv").write_text("label\tsentence\n")
    run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(DEMO / "train.tsv"), dev=str(tmp_path / "dev.tsv")),
                    output=str(tmp_path / "run"))
    with pytest.raises(DataError, match="has no examples"):
        train(run, show_progress=False)


def test_the_loop_fills_in_no_setting(tiny_bert, tmp_path):
    """Rates and the start are decided where a run is set up (ptune.settings), never by the loop."""
    from ptune.engine.model import PTuningModel
    from ptune.errors import ConfigError
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator

    backbone, tokenizer = tiny_bert
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=4, injection="deep", max_length=32), num_labels=2)
    with pytest.raises(ConfigError, match=r"\['head_lr', 'head_init', 'choose_layer'\] not decided when training began"):
        fit(model, train_features=[], dev_features=[], config=TrainConfig(lr=1e-2), run_dir=tmp_path,
            pad_token_id=tokenizer.pad_token_id, label_names=["a", "b"], accelerator=make_accelerator("fp32"),
            show_progress=False)
