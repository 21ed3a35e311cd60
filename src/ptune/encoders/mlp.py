"""The seed design: Embedding(k, h) -> [Linear -> act (-> LayerNorm) (-> Dropout)] x depth -> Linear."""
from __future__ import annotations

import torch
from torch import nn

from ptune.encoders.base import PromptEncoder, register_encoder
from ptune.encoders.configs import ACTIVATION_NAMES, MLPEncoderConfig

ACTIVATIONS = dict(zip(ACTIVATION_NAMES, (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh)))


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
