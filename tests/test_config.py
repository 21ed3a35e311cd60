import json

import pytest

from ptune.config import PTuningConfig, TrainConfig
from ptune.encoders import LSTMEncoderConfig
from ptune.errors import ConfigError


def test_ptuning_config_round_trips_through_json():
    config = PTuningConfig(num_virtual_tokens=7, injection="input", placement="prefix", encoder=LSTMEncoderConfig(num_layers=1))
    again = PTuningConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.encoder, LSTMEncoderConfig)


def test_unknown_fields_are_named():
    with pytest.raises(ConfigError, match="num_tokens"):
        PTuningConfig.from_dict({"num_tokens": 3})


def test_train_config_collects_every_problem():
    with pytest.raises(ConfigError) as err:
        TrainConfig(epochs=0, lr=3.0, metric="loss", precision="fp8")
    assert [p.split("=")[0] for p in err.value.problems] == ["epochs", "lr", "metric", "precision"]


def test_deep_prompts_from_an_encoder_network_get_their_own_default_rate():
    from ptune.config import PTuningConfig, TrainConfig
    from ptune.defaults import DEEP_WITH_ENCODER_NETWORK_LR, default_learning_rate
    from ptune.encoders import MLPEncoderConfig
    from ptune.settings import resolve_ptuning, resolve_training

    undecided = PTuningConfig(injection="deep")  # its encoder waits for the rows: pairs or single texts
    assert resolve_training(TrainConfig(), undecided, train_rows=1_000).lr is None
    deep_rows = resolve_ptuning(undecided, inputs="text")
    deep_mlp = PTuningConfig(injection="deep", encoder=MLPEncoderConfig())
    assert resolve_ptuning(undecided, inputs="pair").encoder == deep_mlp.encoder
    free_rows = resolve_training(TrainConfig(), deep_rows, train_rows=1_000)
    network = resolve_training(TrainConfig(), deep_mlp, train_rows=1_000)
    assert free_rows.lr == default_learning_rate("classification", "deep") == 3e-2
    assert network.lr == network.head_lr == DEEP_WITH_ENCODER_NETWORK_LR == 1e-4
    assert resolve_training(TrainConfig(lr=5e-3), deep_mlp).lr == 5e-3
    assert resolve_training(TrainConfig(), PTuningConfig(injection="input")).lr == 5e-3