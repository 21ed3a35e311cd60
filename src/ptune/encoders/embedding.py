"""No encoder: the prompt rows are free parameters (prompt tuning; P-tuning v2's deep prompts
without reparameterisation)."""
from __future__ import annotations

import torch

from ptune.encoders.base import PromptEncoder, register_encoder
from ptune.encoders.configs import EmbeddingEncoderConfig  # noqa: F401  (its settings, without torch)


@register_encoder("embedding", EmbeddingEncoderConfig)
class EmbeddingPromptEncoder(PromptEncoder):
    def __init__(self, config: EmbeddingEncoderConfig, *, num_virtual_tokens: int, hidden_size: int,
                 output_size: int | None = None):
        # The rows are the output: they are as wide as the prompt the injection needs.
        super().__init__(num_virtual_tokens, output_size or hidden_size, output_size)

    def transform(self, embeddings: torch.Tensor) -> torch.Tensor:
        return embeddings
