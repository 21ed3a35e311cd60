"""Heads that turn the backbone's states into task outputs."""
from __future__ import annotations

import torch
from torch import nn

from ptune.precision import fp32_region


def pool(states: torch.Tensor, mask: torch.Tensor, *, pooling: str, cls_index: int) -> torch.Tensor:
    """(batch, seq, hidden) -> (batch, hidden): the [CLS] state or the mean over unmasked states."""
    if pooling == "cls":
        return states[:, cls_index]
    weights = mask.to(states.dtype).unsqueeze(-1)  # (batch, seq, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        with fp32_region(pooled.device):  # fp32 logits, also under bf16 mixed precision
            return self.out(self.dropout(pooled.float()))  # (batch, num_labels)
