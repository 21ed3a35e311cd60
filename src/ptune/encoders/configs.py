"""The prompt encoders' settings, without torch: what a config file, the resolver and the command
line need. Each encoder module (mlp, lstm, embedding) builds its network from one of these."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ptune.errors import ConfigError
from ptune.registry import add_unique
from ptune.validation import number_problems

ENCODER_CONFIGS: dict[str, type["EncoderConfig"]] = {}
"""Encoder name -> its config class; `ptune.encoders.ENCODERS` adds the network class of each."""
INITS = ("vocab", "random", "zero", "text")
ACTIVATION_NAMES = ("gelu", "relu", "silu", "tanh")


def register_encoder_config(name: str, config_cls: type["EncoderConfig"]) -> type["EncoderConfig"]:
    add_unique(ENCODER_CONFIGS, name, config_cls, kind="prompt encoder config")
    config_cls.name = name
    return config_cls


@dataclass
class EncoderConfig:
    """Fields every prompt encoder has. Subclasses add their own and validate them."""

    name: ClassVar[str] = "base"
    init: str = "vocab"
    """How the k prompt rows start: `vocab` copies k random vocabulary embeddings of the backbone
    (they start on the manifold the backbone was trained on), `random` draws N(0, 1), `zero` starts
    at 0, `text` starts from k tokens of the training rows: their word embeddings (input-level
    prompts), or the frozen backbone's own keys and values of them in context, layer by layer
    (deep prompts of free rows; ptune.training.start)."""

    def __post_init__(self) -> None:
        problems = number_problems(self) or self.problems()
        if problems:
            raise ConfigError(f"{type(self).__name__}", problems)

    def problems(self) -> list[str]:
        if self.init not in INITS:
            return [f"init={self.init!r}: expected one of {list(INITS)}"]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, **dataclasses.asdict(self)}


MAX_HIDDEN_MULT = 64
"""A prompt encoder 64 times as wide as the backbone is already far past any measured use."""


@dataclass
class MLPEncoderConfig(EncoderConfig):
    depth: int = 1
    """Number of hidden layers, 0-4; 0 is a single Linear(h, h) map (no hidden layer)."""
    hidden_mult: float = 2.0
    """Width of the hidden layers as a multiple of the backbone's hidden size."""
    activation: str = "relu"
    residual: bool = True
    """out = e + mlp(e): the prompt starts at its input embeddings and the MLP learns a correction
    (input-level prompts; deep prompts are wider than e and have no residual)."""
    layer_norm: bool = True
    """LayerNorm after each hidden activation."""
    dropout: float = 0.0
    """Dropout: after each hidden layer (mlp), between LSTM layers (lstm, needs num_layers >= 2)."""

    def problems(self) -> list[str]:
        found = super().problems()
        if not 0 <= self.depth <= 4:
            found.append(f"depth={self.depth}: expected 0 to 4 hidden layers (0: one linear map)")
        if not 0 < self.hidden_mult <= MAX_HIDDEN_MULT:
            found.append(f"hidden_mult={self.hidden_mult}: expected a positive multiple up to {MAX_HIDDEN_MULT}, e.g. 2")
        if self.activation not in ACTIVATION_NAMES:
            found.append(f"activation={self.activation!r}: expected one of {list(ACTIVATION_NAMES)}")
        if not 0.0 <= self.dropout < 1.0:
            found.append(f"dropout={self.dropout}: expected 0 <= dropout < 1")
        return found


@dataclass
class LSTMEncoderConfig(EncoderConfig):
    num_layers: int = 2
    dropout: float = 0.0
    """Dropout: after each hidden layer (mlp), between LSTM layers (lstm, needs num_layers >= 2)."""

    def problems(self) -> list[str]:
        found = super().problems()
        if not 1 <= self.num_layers <= 4:
            found.append(f"num_layers={self.num_layers}: expected 1 to 4")
        if not 0.0 <= self.dropout < 1.0:
            found.append(f"dropout={self.dropout}: expected 0 <= dropout < 1")
        return found


@dataclass
class EmbeddingEncoderConfig(EncoderConfig):
    pass


for _name, _cls in (("mlp", MLPEncoderConfig), ("lstm", LSTMEncoderConfig), ("embedding", EmbeddingEncoderConfig)):
    register_encoder_config(_name, _cls)


def encoder_config_from_dict(data: dict[str, Any]) -> EncoderConfig:
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in ENCODER_CONFIGS:
        raise ConfigError("encoder", [f"type={kind!r}: expected one of {sorted(ENCODER_CONFIGS)}"])
    return ENCODER_CONFIGS[kind](**data)
