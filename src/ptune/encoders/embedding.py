"""No encoder: the virtual tokens are free embeddings (plain prompt tuning, for ablations)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ptune.encoders.base import EncoderConfig, PromptEncoder, register_encoder


@dataclass
class EmbeddingEncoderConfig(EncoderConfig):
    pass


@register_encoder("embedding", EmbeddingEncoderConfig)
class EmbeddingPromptEncoder(PromptEncoder):
    def __init__(self, config: EmbeddingEncoderConfig, *, num_virtual_tokens: int, hidden_size: int):
        super().__init__(num_virtual_tokens, hidden_size)

    def transform(self, embeddings: torch.Tensor) -> torch.Tensor:
        return embeddings
