"""The pair objective: balanced pairs, the prompt alone trained, the loss going down, the refusals."""
import random

import pytest
import torch

from ptune.config import PTuningConfig, TrainConfig
from ptune.encoders import EmbeddingEncoderConfig
from ptune.engine.model import PTuningModel
from ptune.errors import ConfigError
from ptune.training.contrastive import draw_pairs, train_pairs
from ptune.training.start import start_adapter


def deep_model(tiny_bert, seed=0):
    config = PTuningConfig(num_virtual_tokens=4, injection="deep", encoder=EmbeddingEncoderConfig(init="random"),
                           max_length=32)
    return PTuningModel(tiny_bert[0], config, num_labels=2, seed=seed)


def test_pairs_alternate_same_and_different_labels_of_real_rows():
    labels = [0, 0, 0, 1, 1, 2]
    pairs = draw_pairs(labels, count=40, rng=random.Random(0))
    assert len(pairs) == 40
    for i, (first, second, target) in enumerate(pairs):
        assert target == (1.0 if i % 2 == 0 else 0.0)
        assert (labels[first] == labels[second]) == (target == 1.0)
        if target == 1.0:
            assert first != second  # label 2 has one row: it never makes a same-label pair with itself
    assert {labels[a] for a, _, t in pairs if t == 0.0} | {labels[b] for _, b, t in pairs if t == 0.0} == {0, 1, 2}
    assert draw_pairs(labels, count=10, rng=random.Random(1)) == draw_pairs(labels, count=10, rng=random.Random(1))


def test_pairs_need_two_labels():
    with pytest.raises(ConfigError, match="at least two labels"):
        draw_pairs([1, 1, 1], count=4, rng=random.Random(0))


def test_the_prompt_alone_learns_and_the_loss_falls(tiny_bert, demo_features):
    features, tokenizer, _ = demo_features
    model = deep_model(tiny_bert)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    prompt = model.encoder.embedding.weight.detach().clone()
    frozen = {k: v.clone() for k, v in tiny_bert[0].state_dict().items()}
    record = train_pairs(model, features, steps=30, batch_size=8, lr=3e-2, seed=0,
                         pad_token_id=tokenizer.pad_token_id)
    assert record["steps"] == 30 and record["pairs_per_step"] == 8
    assert record["loss_last"] < record["loss_first"]
    assert not torch.equal(model.encoder.embedding.weight, prompt)
    assert all(torch.equal(v, head[k]) for k, v in model.head.state_dict().items())
    assert all(torch.equal(v, frozen[k]) for k, v in tiny_bert[0].state_dict().items())
    assert all(p.grad is None for p in model.parameters())  # the run's own optimizer starts clean


def test_the_start_runs_the_pairs_before_the_probe_head_and_is_seeded(tiny_bert, demo_features):
    features, tokenizer, labels = demo_features
    tables = []
    for _ in range(2):
        model = deep_model(tiny_bert)
        record = start_adapter(model, features, config=TrainConfig(contrastive_steps=5, batch_size=8, lr=3e-2,
                                                                   head_init="probe", choose_layer=False),
                               pad_token_id=tokenizer.pad_token_id, label_names=labels.names)
        assert record["pairs"]["steps"] == 5 and "head" in record
        tables.append(model.encoder.embedding.weight.detach().clone())
    assert torch.equal(*tables)


def test_the_layer_is_chosen_before_the_pairs_and_the_pairs_train_that_layer(tiny_bert, demo_features, monkeypatch):
    """choose_layer runs on the starting prompt, before the pairs (after them every layer separates
    the training rows), and the pairs then shape the layer the head reads: here layer 1 of 2, made
    the probes' favourite."""
    from ptune.training import contrastive, start

    features, tokenizer, labels = demo_features
    probes = []
    monkeypatch.setattr(start, "out_of_fold_score", lambda *a, **k: probes.append(1) or (0.9 if len(probes) == 1 else 0.1))
    read = []
    original = contrastive.pooled
    monkeypatch.setattr(contrastive, "pooled", lambda m, batch: read.append((len(probes), m.config.task.layer))
                        or original(m, batch))
    model = deep_model(tiny_bert)
    record = start_adapter(model, features, config=TrainConfig(choose_layer=True, contrastive_steps=3, batch_size=8,
                                                               lr=3e-2, head_init="probe"),
                           pad_token_id=tokenizer.pad_token_id, label_names=labels.names)
    assert record["layer"]["layer"] == 1 and model.config.task.layer == 1
    assert read == [(2, 1)] * 3  # both layers probed first, then every pair step read layer 1
    assert record["pairs"]["steps"] == 3 and "head" in record


def test_a_tagger_is_refused_before_anything_runs(tiny_bert):
    from ptune.tasks.token_classification import TokenClassificationConfig

    config = PTuningConfig(num_virtual_tokens=4, injection="deep", encoder=EmbeddingEncoderConfig(init="random"),
                           max_length=32, task=TokenClassificationConfig())
    model = PTuningModel(tiny_bert[0], config, num_labels=3, seed=0)
    with pytest.raises(ConfigError, match="contrastive_steps"):
        start_adapter(model, [], config=TrainConfig(contrastive_steps=5, lr=3e-2, head_init="random",
                                                    choose_layer=False), pad_token_id=0, label_names=["O", "B", "I"])


@pytest.mark.parametrize("steps", [-1, 10**20])
def test_negative_or_absurd_steps_are_refused(steps):
    with pytest.raises(ConfigError, match=f"contrastive_steps={steps}: expected 0"):
        TrainConfig(contrastive_steps=steps)
    with pytest.raises(ConfigError, match=f"min_steps={steps}: expected 0"):
        TrainConfig(min_steps=steps)
