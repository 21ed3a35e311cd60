"""The seed design: Embedding(k, h) -> [Linear -> act (-> LayerNorm) (-> Dropout)] x depth -> Linear."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ptune.encoders.base import EncoderConfig, PromptEncoder, register_encoder

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


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
        if self.activation not in ACTIVATIONS:
            found.append(f"activation={self.activation!r}: expected one of {sorted(ACTIVATIONS)}")
        if not 0.0 <= self.dropout < 1.0:
            found.append(f"dropout={self.dropout}: expected 0 <= dropout < 1")
        return found


@register_encoder("mlp", MLPEncoderConfig)
class MLPPromptEncoder(PromptEncoder):
    def __init__(self, config: MLPEncoderConfig, *, num_virtual_tokens: int, hidden_size: int,
                 output_size: int | None = None):
        super().__init__(num_virtual_tokens, hidden_size, output_size)
        # A residual needs equal widths: input-level prompts have them, deep prompts do not.
        self.residual = config.residual and self.output_size == hidden_size
        width = max(1, round(hidden_size * config.hidden_mult))
        layers: list[nn.Module] = []
        fan_in = hidden_size
        for _ in range(config.depth):
            layers += [nn.Linear(fan_in, width), ACTIVATIONS[config.activation]()]
            if config.layer_norm:
                layers.append(nn.LayerNorm(width))
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            fan_in = width
        layers.append(nn.Linear(fan_in, self.output_size))
        self.mlp = nn.Sequential(*layers)
        if self.residual:
            # Start as the identity map so training begins from the input embeddings.
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def transform(self, embeddings: torch.Tensor) -> torch.Tensor:
        out = self.mlp(embeddings)  # (k, output_size)
        return embeddings + out if self.residual else out
