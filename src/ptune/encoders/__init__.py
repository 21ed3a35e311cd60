"""Prompt encoders, one module each. The settings (config classes, ENCODER_CONFIGS) import without
torch, so the command line and the resolver stay light; the networks (ENCODERS, build_encoder, the
*PromptEncoder classes) load on first use, and loading them fills the registry."""
import importlib

from ptune.encoders.configs import (
    ENCODER_CONFIGS,
    INITS,
    EmbeddingEncoderConfig,
    EncoderConfig,
    LSTMEncoderConfig,
    MLPEncoderConfig,
    encoder_config_from_dict,
)

NETWORK_MODULES = ("ptune.encoders.mlp", "ptune.encoders.lstm", "ptune.encoders.embedding")
_NETWORKS = {"ENCODERS": "ptune.encoders.base", "PromptEncoder": "ptune.encoders.base",
             "build_encoder": "ptune.encoders.base", "register_encoder": "ptune.encoders.base",
             "MLPPromptEncoder": "ptune.encoders.mlp", "LSTMPromptEncoder": "ptune.encoders.lstm",
             "EmbeddingPromptEncoder": "ptune.encoders.embedding"}

__all__ = ["ENCODER_CONFIGS", "INITS", "EncoderConfig", "MLPEncoderConfig", "LSTMEncoderConfig",
           "EmbeddingEncoderConfig", "encoder_config_from_dict", "load_networks", *_NETWORKS]


def load_networks() -> None:
    """Registers every built-in network (each module registers itself on import)."""
    for module in NETWORK_MODULES:
        importlib.import_module(module)


def __getattr__(name: str):
    if name in _NETWORKS:
        load_networks()
        return getattr(importlib.import_module(_NETWORKS[name]), name)
    raise AttributeError(f"module 'ptune.encoders' has no attribute {name!r}")
