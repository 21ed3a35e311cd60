"""Heads that turn the backbone's states into task outputs: pooling and one linear head, which
reads pooled states (classification), every token's state (tagging) or the context tokens' states
(span start/end, question answering); and the cloze head (ptune.tasks.cloze), which scores label
words at the [MASK]. The tasks import this module only when they build or run a head."""
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


class ClozeHead(nn.Module):
    """Label scores at the [MASK]: (batch,) mask states -> (batch, labels).

    Each label's score is the log of the summed probability of its words; the vocabulary's
    normalizer is the same for every label, so logsumexp over the words' logits is enough.
    """

    def __init__(self, *, token_ids: list[list[int]], mask_token_id: int):
        super().__init__()
        self.mask_token_id = mask_token_id
        longest = max(len(row) for row in token_ids)
        self.register_buffer("word_ids", torch.tensor([row + [row[0]] * (longest - len(row)) for row in token_ids]))
        self.register_buffer("word_mask", torch.tensor([[1] * len(row) + [0] * (longest - len(row)) for row in token_ids],
                                                       dtype=torch.bool))
    def init_weights(self, generator: torch.Generator) -> None:
        """Nothing to draw: the head's only weights are the backbone's frozen MLM head."""

    def check_backbone(self, prompted) -> None:
        """Load the backbone's MLM head now (refused there if it has none), not at the first forward."""
        prompted.mlm_head  # noqa: B018

    def forward(self, output) -> torch.Tensor:
        if output.input_ids is None or output.prompted is None:
            raise RuntimeError("the cloze head needs the backbone output's input_ids and backbone")
        at_mask = output.input_ids == self.mask_token_id  # (batch, seq): the one [MASK] of each row
        position = at_mask.int().argmax(1)
        rows = torch.arange(output.states.shape[0], device=output.states.device)
        states = output.states[rows, output.text_index[position]]  # (batch, hidden)
        vocabulary = output.prompted.mlm_head(states)  # (batch, vocab)
        word_logits = vocabulary[:, self.word_ids]  # (batch, labels, words)
        return word_logits.masked_fill(~self.word_mask, float("-inf")).logsumexp(-1)
