"""Prompt encoders, one module each; importing this package fills the registry."""
from ptune.encoders.base import (
    ENCODERS,
    EncoderConfig,
    PromptEncoder,
    build_encoder,
    encoder_config_from_dict,
    register_encoder,
)
from ptune.encoders.embedding import EmbeddingEncoderConfig, EmbeddingPromptEncoder
from ptune.encoders.lstm import LSTMEncoderConfig, LSTMPromptEncoder
from ptune.encoders.mlp import MLPEncoderConfig, MLPPromptEncoder

__all__ = [
    "ENCODERS",
    "EncoderConfig",
    "PromptEncoder",
    "build_encoder",
    "encoder_config_from_dict",
    "register_encoder",
    "MLPEncoderConfig",
    "MLPPromptEncoder",
    "LSTMEncoderConfig",
    "LSTMPromptEncoder",
    "EmbeddingEncoderConfig",
    "EmbeddingPromptEncoder",
]
