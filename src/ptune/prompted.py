"""The frozen prompted backbone: a transformers encoder that takes prompts per row.

Data path: input_ids -> word embeddings -> input-level prompts inserted (after [CLS] or as a
prefix) -> frozen backbone, whose attention layers also read deep (per-layer key/value) prompts
-> states aligned with the text tokens. Prompts come per row, so rows of one batch may carry
different tasks' prompts; a shorter prompt is padded and its padding masked out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ptune.backbone import PositionScheme, accepts_token_type_ids, freeze
from ptune.injections import deep_attention


@dataclass
class Prompts:
    """What one forward pass injects, per row. Every tensor is optional."""

    input: torch.Tensor | None = None
    """(batch, k, embedding width): virtual tokens placed among the input embeddings."""
    input_mask: torch.Tensor | None = None
    """(batch, k) 1 for a real virtual token, 0 for padding (rows with shorter prompts)."""
    placement: str = "after_cls"
    deep: torch.Tensor | None = None
    """(batch, k, layers * 2 * hidden): a key and a value per layer for each of k prompt positions."""
    deep_mask: torch.Tensor | None = None


@dataclass
class BackboneOutput:
    states: torch.Tensor
    """(batch, k + seq, hidden) all final states, virtual tokens included, in fp32."""
    mask: torch.Tensor
    """(batch, k + seq) attention mask of `states`."""
    text_index: torch.Tensor
    """(seq,) where each text token sits in `states`."""
    cls_index: int

    @property
    def text_states(self) -> torch.Tensor:
        """(batch, seq, hidden): the states of the text tokens, in input_ids' order."""
        return self.states[:, self.text_index]

    @property
    def text_mask(self) -> torch.Tensor:
        return self.mask[:, self.text_index]


class PromptedBackbone(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        freeze(backbone)
        self.model = backbone
        self.config = backbone.config
        self.positions = PositionScheme.of(backbone)
        self.passes_token_types = accepts_token_type_ids(backbone)
        self.attention_layers = deep_attention.install(backbone)

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def embedding_size(self) -> int:
        """Width of the input embeddings: smaller than hidden_size in ELECTRA and ALBERT."""
        return self.word_embeddings.embedding_dim

    @property
    def num_layers(self) -> int:
        return len(self.attention_layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, prompts: Prompts | None = None) -> BackboneOutput:
        prompts = prompts or Prompts()
        inputs, text_index, cls_index = self.build_inputs(input_ids, attention_mask, token_type_ids, prompts)
        with deep_attention.prompts_in(self.attention_layers, prompts.deep, prompts.deep_mask,
                                       heads=self.config.num_attention_heads):
            states = self.model(**inputs).last_hidden_state.float()  # (batch, k + seq, hidden)
        return BackboneOutput(states=states, mask=inputs["attention_mask"], text_index=text_index, cls_index=cls_index)

    def build_inputs(self, input_ids, attention_mask, token_type_ids=None, prompts: Prompts | None = None):
        """(backbone keyword arguments with input-level prompts inserted, text positions, [CLS] index)."""
        prompts = prompts or Prompts()
        batch, length = input_ids.shape
        words = self.word_embeddings(input_ids)  # (batch, seq, embedding width)
        k = 0 if prompts.input is None else prompts.input.shape[1]
        at = 1 if prompts.placement == "after_cls" else 0  # where input-level prompts go

        def insert(text: torch.Tensor, virtual: torch.Tensor) -> torch.Tensor:
            return torch.cat([text[:, :at], virtual, text[:, at:]], dim=1) if k else text

        virtual_mask = attention_mask.new_ones(batch, k) if prompts.input_mask is None or not k \
            else prompts.input_mask.to(attention_mask.dtype)
        mask = insert(attention_mask, virtual_mask)  # (batch, k + seq)
        inputs = {"inputs_embeds": insert(words, prompts.input.to(words.dtype)) if k else words, "attention_mask": mask}
        if self.passes_token_types:
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            inputs["token_type_ids"] = insert(types, types.new_zeros(batch, k))
        if self.positions.accepts_position_ids:
            inputs["position_ids"] = self.position_ids(mask, length, k, prompts.placement)
        text_index = torch.cat([torch.arange(at), torch.arange(at + k, k + length)]).to(input_ids.device)
        return inputs, text_index, (0 if at else k)

    def position_ids(self, mask: torch.Tensor, length: int, k: int, placement: str) -> torch.Tensor:
        """after_cls: the virtual tokens share [CLS]'s position, so the text keeps its pretrained
        positions; prefix: positions count the real tokens of each row, prompt first (PEFT's layout
        for a full prompt; a row with a shorter, padded prompt starts its text earlier)."""
        offset = self.positions.offset
        if placement == "after_cls" or not k:
            text = offset + torch.arange(length, device=mask.device)
            return torch.cat([text[:1], text[:1].repeat(k), text[1:]]).expand(mask.shape[0], -1)
        return offset + (mask.cumsum(1) - 1).clamp(min=0)

    def max_text_length(self, *, input_tokens: int, placement: str) -> int:
        """Longest text (word pieces with [CLS]/[SEP]) that fits beside `input_tokens` virtual tokens."""
        keeps_positions = placement == "after_cls" and self.positions.accepts_position_ids
        return self.positions.limit if keeps_positions else self.positions.limit - input_tokens
