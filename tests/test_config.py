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
