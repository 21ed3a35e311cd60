"""How an adapter starts: prompt rows from the backbone's own keys/values of training text, zero
rows, a head fitted as a probe, another adapter's prompt; and the refusals."""
import numpy as np
import pytest
import torch

from conftest import DEMO
from helpers import assert_head_is_sklearns_fit
from ptune.config import PTuningConfig, TrainConfig
from ptune.encoders import EmbeddingEncoderConfig, MLPEncoderConfig
from ptune.engine.model import PTuningModel
from ptune.errors import ConfigError
from ptune.training.start import start_adapter, text_positions


def deep_model(tiny_bert, init="text", k=6, seed=0):
    config = PTuningConfig(num_virtual_tokens=k, injection="deep", encoder=EmbeddingEncoderConfig(init=init),
                           max_length=32)
    return PTuningModel(tiny_bert[0], config, num_labels=2, seed=seed)


def test_text_init_rows_are_the_backbones_keys_and_values_of_the_drawn_tokens_to_the_bit(tiny_bert, demo_features):
    from ptune.engine.batched import default_collate

    features, tokenizer, labels = demo_features
    model = deep_model(tiny_bert)
    record = start_adapter(model, features, config=TrainConfig(seed=3), pad_token_id=tokenizer.pad_token_id,
                           label_names=labels.names)
    assert record["prompt"].startswith("text: 6 tokens")
    picks = text_positions(features, count=6, seed=3)
    rows = sorted({r for r, _ in picks})
    batch = default_collate([features[r] for r in rows], pad_token_id=tokenizer.pad_token_id)
    bert = tiny_bert[0]
    assert not bert.training  # the start left the backbone's dropout as it found it
    with torch.no_grad():
        hidden = bert(**batch, output_hidden_states=True).hidden_states  # the input of each layer
        # each layer's own key and value projections of its whole input, as its forward computes them
        projected = [(layer.attention.self.key(hidden[depth]), layer.attention.self.value(hidden[depth]))
                     for depth, layer in enumerate(bert.encoder.layer)]
    expected = [torch.cat([t[rows.index(row), position] for pair in projected for t in pair]) for row, position in picks]
    assert torch.equal(model.encoder.embedding.weight.data, torch.stack(expected))
    # the drawn tokens are real text: never [CLS] (position 0) nor the final [SEP]
    assert all(0 < p < len(features[r]["input_ids"]) - 1 for r, p in picks)


def test_text_positions_depend_on_the_seed_and_repeat_only_when_the_text_is_short(demo_features):
    features = demo_features[0]
    assert text_positions(features, count=8, seed=0) != text_positions(features, count=8, seed=1)
    assert len(set(text_positions(features, count=8, seed=0))) == 8
    short = [{"input_ids": [101, 7, 102]}]  # one text token
    assert text_positions(short, count=3, seed=0) == [(0, 1)] * 3


def test_input_level_text_init_copies_the_drawn_tokens_word_embeddings(tiny_bert, demo_features):
    features, tokenizer, labels = demo_features
    config = PTuningConfig(num_virtual_tokens=5, injection="input", encoder=MLPEncoderConfig(init="text"), max_length=32)
    model = PTuningModel(tiny_bert[0], config, num_labels=2, seed=0)
    start_adapter(model, features, config=TrainConfig(), pad_token_id=tokenizer.pad_token_id, label_names=labels.names)
    ids = [features[r]["input_ids"][p] for r, p in text_positions(features, count=5, seed=0)]
    assert torch.equal(model.encoder.embedding.weight.data, model.word_embeddings.weight[ids].detach())


def test_zero_init_starts_every_row_at_zero(tiny_bert):
    assert not deep_model(tiny_bert, init="zero").encoder.embedding.weight.any()


def test_text_init_of_a_deep_encoder_network_is_refused(tiny_bert):
    config = PTuningConfig(num_virtual_tokens=4, injection="deep", encoder=MLPEncoderConfig(init="text"))
    with pytest.raises(ConfigError, match="use encoder=embedding"):
        PTuningModel(tiny_bert[0], config, num_labels=2)


def test_probe_head_gives_sklearns_probabilities_on_the_starting_prompt(tiny_bert, demo_features):
    from ptune.training.head_probe import head_inputs

    features, tokenizer, labels = demo_features
    model = deep_model(tiny_bert)
    record = start_adapter(model, features, config=TrainConfig(head_init="probe"),
                           pad_token_id=tokenizer.pad_token_id, label_names=labels.names)
    assert record["head"]["cv_folds"] == 5 and record["head"]["train_positions"] == len(features)
    inputs, targets, _ = head_inputs(model, features, pad_token_id=tokenizer.pad_token_id, batch_size=16)
    assert_head_is_sklearns_fit(model, features, inputs=inputs, targets=targets, C=record["head"]["C"],
                                pad_token_id=tokenizer.pad_token_id)


def test_a_probe_head_for_a_task_without_a_linear_head_is_refused(tiny_bert, demo_features):
    from ptune.tasks import QuestionAnsweringConfig

    features, tokenizer, labels = demo_features
    config = PTuningConfig(num_virtual_tokens=4, injection="deep", task=QuestionAnsweringConfig(), max_length=32)
    model = PTuningModel(tiny_bert[0], config, num_labels=2)
    with pytest.raises(ConfigError, match="head_init='probe' fits a linear probe"):
        start_adapter(model, features, config=TrainConfig(head_init="probe"), pad_token_id=0, label_names=labels.names)


def saved(model, folder, labels):
    from ptune.engine.model import save_adapter

    with torch.no_grad():
        model.encoder.embedding.weight.normal_()
        model.head.out.weight.normal_()
    save_adapter(model, folder, label_names=list(labels), backbone_name=None)
    return model


def test_a_transferred_prompt_loads_with_its_head_for_the_same_labels_and_trains(tiny_bert, demo_features, tmp_path):
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator

    features, tokenizer, labels = demo_features
    source = saved(deep_model(tiny_bert, init="random", seed=1), tmp_path / "source", labels.names)
    model = deep_model(tiny_bert, init="random", seed=2)
    config = TrainConfig(init_from=str(tmp_path / "source"), epochs=1, batch_size=16, lr=1e-2, head_lr=1e-2,
                         head_init="random", choose_layer=False)
    (tmp_path / "run").mkdir()
    result = fit(model, train_features=features, dev_features=features[:16], config=config,
                 run_dir=tmp_path / "run", pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                 accelerator=make_accelerator("fp32"), show_progress=False)
    assert result.start["init_from"] == [f"prompt encoder from {tmp_path / 'source'}", "head (same task and labels)"]
    assert result.state.step == 5
    started = deep_model(tiny_bert, init="random", seed=2)
    start_adapter(started, features, config=TrainConfig(init_from=str(tmp_path / "source")),
                  pad_token_id=tokenizer.pad_token_id, label_names=labels.names)
    assert torch.equal(started.encoder.embedding.weight, source.encoder.embedding.weight)
    assert torch.equal(started.head.out.weight, source.head.out.weight)
    # other labels: the prompt comes, the head starts fresh
    other = deep_model(tiny_bert, init="random", seed=2)
    fresh = other.head.out.weight.clone()
    record = start_adapter(other, features, config=TrainConfig(init_from=str(tmp_path / "source")),
                           pad_token_id=tokenizer.pad_token_id, label_names=["neg", "pos"])
    assert record["init_from"] == [f"prompt encoder from {tmp_path / 'source'}"]
    assert torch.equal(other.head.out.weight, fresh)


def test_a_transferred_prompt_of_another_shape_or_kind_is_refused(tiny_bert, demo_features, tmp_path):
    features, tokenizer, labels = demo_features
    saved(deep_model(tiny_bert, init="random", k=6), tmp_path / "six", labels.names)
    options = dict(config=TrainConfig(init_from=str(tmp_path / "six")), pad_token_id=0, label_names=labels.names)
    with pytest.raises(ConfigError, match=r"prompt is \(6, 128\).*this run's is \(4, 128\).*--num-virtual-tokens 6"):
        start_adapter(deep_model(tiny_bert, init="random", k=4), features, **options)
    input_level = PTuningModel(tiny_bert[0], PTuningConfig(num_virtual_tokens=6, injection="input"), num_labels=2)
    with pytest.raises(ConfigError, match="holds deep prompts, this run trains input prompts"):
        start_adapter(input_level, features, **options)
    with pytest.raises(ConfigError, match="is not an adapter folder"):
        start_adapter(deep_model(tiny_bert, init="random"), features, config=TrainConfig(init_from=str(tmp_path)), pad_token_id=0,
                      label_names=labels.names)


def test_the_head_reads_the_layer_its_cross_validated_probe_ranks_best(tiny_bert, demo_features):
    from ptune.training.start import choose_layer

    features, tokenizer, labels = demo_features
    model = deep_model(tiny_bert, init="random")
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    record = choose_layer(model, features, pad_token_id=tokenizer.pad_token_id, batch_size=16, seed=0)
    assert set(record["scores"]) == {1, 2} and record["rows"] == len(features)
    best = max(record["scores"], key=lambda layer: (record["scores"][layer], layer))
    assert record["layer"] == best and model.config.task.layer == (None if best == 2 else best)
    assert all(torch.equal(v, head[k]) for k, v in model.head.state_dict().items())  # the head is left as it was


def test_a_head_on_an_earlier_layer_reads_that_layers_states(tiny_bert, demo_features):
    from ptune.tasks import ClassificationConfig

    features, tokenizer, _ = demo_features
    batch = model_batch = None
    outputs = {}
    for layer in (None, 1, 2):
        config = PTuningConfig(num_virtual_tokens=4, injection="deep", task=ClassificationConfig(layer=layer),
                               max_length=32)
        model = PTuningModel(tiny_bert[0], config, num_labels=2, seed=0).eval()
        batch = model.task.collate(features[:8], pad_token_id=tokenizer.pad_token_id)
        with torch.no_grad():
            outputs[layer] = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    assert torch.equal(outputs[None], outputs[2]) and not torch.allclose(outputs[1], outputs[2])
    with pytest.raises(ConfigError, match="layer=3: this backbone has layers 0"):
        PTuningModel(tiny_bert[0], PTuningConfig(task=ClassificationConfig(layer=3)), num_labels=2)
    with pytest.raises(ConfigError, match="layer=-1"):
        ClassificationConfig(layer=-1)


def test_a_bf16_run_starts_with_the_layer_choice_and_the_probe_head_then_trains(tiny_bert, demo_features, tmp_path):
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator

    features, tokenizer, labels = demo_features
    model = deep_model(tiny_bert, init="text")
    config = TrainConfig(head_init="probe", choose_layer=True, epochs=1, batch_size=16, eval_batch_size=16,
                         lr=1e-2, head_lr=1e-3, precision="bf16")
    result = fit(model, train_features=features, dev_features=features[:16], config=config, run_dir=tmp_path,
                 pad_token_id=tokenizer.pad_token_id, label_names=labels.names, accelerator=make_accelerator("bf16"),
                 show_progress=False)
    assert set(result.start) == {"prompt", "layer", "head", "seconds"} and result.state.step == 5
    assert result.start["layer"]["layer"] in (1, 2) and result.start["head"]["train_positions"] == len(features)


def test_the_layer_score_copes_with_a_label_seen_in_one_example_only():
    from ptune.training.start import out_of_fold_score

    rng = np.random.default_rng(0)
    targets = np.array([0] * 40 + [1] * 20 + [2])  # label 2: one position of one example
    inputs = rng.normal(size=(len(targets), 8)) + targets[:, None]
    groups = np.arange(len(targets)) // 3
    score = out_of_fold_score(inputs, targets, groups, seed=0, metric="macro_f1")
    assert score is not None and 0.3 < score <= 1
    assert out_of_fold_score(inputs[:2], targets[:2], np.zeros(2), seed=0, metric="accuracy") is None


def test_a_bad_start_is_refused_before_the_output_folder_is_touched(tiny_backbone_dir, tmp_path):
    from ptune.training.run import DataConfig, RunConfig, train

    for training, message in ((TrainConfig(init_from=str(tmp_path / "nowhere")), "is not an adapter folder"),):
        run = RunConfig(model=str(tiny_backbone_dir), data=DataConfig(train=str(DEMO)), output=str(tmp_path / "out"),
                        training=training)
        with pytest.raises(ConfigError, match=message):
            train(run, show_progress=False)
        assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="init_from='': expected an adapter folder"):
        TrainConfig(init_from="  ")
