import pytest
import torch

from ptune.encoders import (ENCODERS, EmbeddingEncoderConfig, LSTMEncoderConfig, MLPEncoderConfig, build_encoder,
                            encoder_config_from_dict)
from ptune.errors import ConfigError

K, H = 5, 16


def test_registry_holds_every_encoder():
    assert set(ENCODERS) >= {"mlp", "lstm", "embedding"}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_each_encoder_returns_k_by_hidden_and_round_trips_its_config(name):
    config = ENCODERS[name][0]()
    encoder = build_encoder(config, num_virtual_tokens=K, hidden_size=H)
    assert encoder().shape == (K, H)
    assert encoder_config_from_dict(config.to_dict()) == config


def test_mlp_parameter_count_matches_the_formula():
    m = 2
    plain = build_encoder(MLPEncoderConfig(residual=False, layer_norm=False), num_virtual_tokens=K, hidden_size=H)
    assert plain.num_parameters() == K * H + (H * m * H + m * H) + (m * H * H + H)
    deep = build_encoder(MLPEncoderConfig(depth=3, layer_norm=True), num_virtual_tokens=K, hidden_size=H)
    hidden_layer = m * H * m * H + m * H
    assert deep.num_parameters() == K * H + (H * m * H + m * H) + 2 * hidden_layer + 3 * 2 * m * H + (m * H * H + H)


def test_residual_mlp_starts_as_identity():
    encoder = build_encoder(MLPEncoderConfig(residual=True), num_virtual_tokens=K, hidden_size=H)
    assert torch.equal(encoder(), encoder.embedding.weight)


def test_lstm_encoder_is_bidirectional_with_an_mlp_on_top():
    encoder = build_encoder(LSTMEncoderConfig(), num_virtual_tokens=K, hidden_size=H)
    assert encoder.lstm.bidirectional and encoder.lstm.hidden_size == H // 2
    assert isinstance(encoder.mlp[0], torch.nn.Linear)


def test_embedding_encoder_is_just_the_table():
    encoder = build_encoder(EmbeddingEncoderConfig(), num_virtual_tokens=K, hidden_size=H)
    assert encoder.num_parameters() == K * H


def test_bad_values_are_all_reported_with_field_names():
    with pytest.raises(ConfigError) as err:
        MLPEncoderConfig(depth=7, dropout=1.5, activation="swish2")
    message = str(err.value)
    assert "depth=7" in message and "dropout=1.5" in message and "activation='swish2'" in message


def test_unknown_encoder_type_names_the_known_ones():
    with pytest.raises(ConfigError, match="expected one of"):
        encoder_config_from_dict({"type": "transformer"})
