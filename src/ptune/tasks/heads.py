"""Heads that turn the backbone's states into task outputs: pooling and one linear head, which
reads pooled states (classification), every token's state (tagging) or the context tokens' states
(span start/end, question answering)."""
from __future__ import annotations

import torch
from torch import nn

from ptune.runtime import fp32_region


def pool(states: torch.Tensor, mask: torch.Tensor, *, pooling: str, cls_index: int) -> torch.Tensor:
    """(batch, seq, hidden) -> (batch, hidden): the [CLS] state or the mean over unmasked states."""
    if pooling == "cls":
        return states[:, cls_index]
    weights = mask.to(states.dtype).unsqueeze(-1)  # (batch, seq, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class LinearHead(nn.Module):
    """Dropout and one linear map, computed in fp32 (also under bf16 mixed precision):
    (..., hidden) -> (..., num_labels)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        with fp32_region(states.device):
            return self.out(self.dropout(states.float()))
