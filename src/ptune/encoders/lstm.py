"""The original P-tuning encoder (Liu et al. 2021): a bi-LSTM over the k embeddings, then an MLP."""
from __future__ import annotations

import torch
from torch import nn

from ptune.encoders.base import PromptEncoder, register_encoder
from ptune.encoders.configs import LSTMEncoderConfig  # noqa: F401  (its settings, without torch)


@register_encoder("lstm", LSTMEncoderConfig)
class LSTMPromptEncoder(PromptEncoder):
    def __init__(self, config: LSTMEncoderConfig, *, num_virtual_tokens: int, hidden_size: int,
                 output_size: int | None = None):
        super().__init__(num_virtual_tokens, hidden_size, output_size)
        # hidden // 2 per direction, so the two directions concatenate back to the hidden size.
        self.lstm = nn.LSTM(
            input_size=hidden_size,
            hidden_size=hidden_size // 2,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )
        lstm_width = 2 * (hidden_size // 2)
        self.mlp = nn.Sequential(nn.Linear(lstm_width, hidden_size), nn.ReLU(), nn.Linear(hidden_size, self.output_size))

    def transform(self, embeddings: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(embeddings.unsqueeze(0))  # (1, k, 2 * (hidden // 2))
        return self.mlp(states.squeeze(0))  # (k, output_size)
