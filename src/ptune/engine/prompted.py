"""The frozen prompted backbone: a transformers encoder that takes prompts per row.

Data path: input_ids -> word embeddings -> input-level prompts inserted (after [CLS] or as a
prefix) -> frozen backbone, whose attention layers also read deep (per-layer key/value) prompts
-> states aligned with the text tokens. Prompts come per row, so rows of one batch may carry
different tasks' prompts; a shorter prompt is padded and its padding masked out. Each injection
present in the batch acts on the forward pass itself (`Injection.during`); this module knows the
backbone (its positions, token types and attention layers), not the injections.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import torch
from torch import nn

from ptune.engine.backbone import PositionScheme, accepts_token_type_ids, freeze
from ptune.engine.families import family_of
from ptune.errors import PtuneError
from ptune.engine import family_attention
from ptune.injections import INJECTIONS, Prompts, deep_attention



@dataclass
class BackboneOutput:
    states: torch.Tensor
    """(batch, k + seq, hidden) all final states, virtual tokens included, in fp32."""
    mask: torch.Tensor
    """(batch, k + seq) attention mask of `states`."""
    text_index: torch.Tensor
    """(seq,) where each text token sits in `states`."""
    cls_index: int
    input_ids: torch.Tensor | None = None
    """(batch, seq) the text's token ids (a cloze head finds its [MASK] in them)."""
    prompted: "PromptedBackbone | None" = None
    """The backbone that made these states (a cloze head scores words with its MLM head or embeddings)."""
    layers: tuple | None = None
    """Every layer's states, (batch, k + seq, hidden) each: the embeddings (0), then layer 1 to N (the
    last is `states`), in the backbone's dtype. A head may read an earlier layer (TaskConfig.layer)."""

    @property
    def text_states(self) -> torch.Tensor:
        """(batch, seq, hidden): the states of the text tokens, in input_ids' order."""
        return self.states[:, self.text_index]

    def states_at(self, layer: int | None) -> torch.Tensor:
        """(batch, k + seq, hidden) in fp32: the states of `layer` (None or the last: `states`)."""
        if layer is None or self.layers is None or layer == len(self.layers) - 1:
            return self.states
        if not 0 <= layer < len(self.layers):
            raise ValueError(f"layer {layer}: this backbone has layers 0 (embeddings) to {len(self.layers) - 1}")
        return self.layers[layer].float()

    def text_states_at(self, layer: int | None) -> torch.Tensor:
        """(batch, seq, hidden): the text tokens' states of `layer`."""
        return self.states_at(layer)[:, self.text_index]

    @property
    def text_mask(self) -> torch.Tensor:
        return self.mask[:, self.text_index]


class PromptedBackbone(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        freeze(backbone)
        self.model = backbone
        self.config = backbone.config
        self.family = family_of(backbone.config)
        self.positions = PositionScheme.of(backbone, self.family)
        self.passes_token_types = accepts_token_type_ids(backbone)
        family_attention.prepare(backbone, self.family)
        self._attention_layers: list[nn.Module] | None = None
        self._mlm_head = None  # loaded on first use; not a submodule, so never in a state dict

    @property
    def mlm_head(self) -> nn.Module:
        """The backbone's pretrained MLM head, frozen (ptune.engine.mlm_head), on the backbone's device."""
        from ptune.engine.mlm_head import load_mlm_head

        if self._mlm_head is None:
            self.__dict__["_mlm_head"] = load_mlm_head(self.model, self.family)  # kept out of nn.Module's registry
        device = self.word_embeddings.weight.device
        if next(self._mlm_head.parameters()).device != device:
            self._mlm_head.to(device)
        return self._mlm_head

    @property
    def attention_layers(self) -> list[nn.Module]:
        """The self-attention modules, routed through the prompt-aware attention on first use:
        only a backbone that serves deep prompts runs through the wrapper."""
        if self._attention_layers is None:
            self._attention_layers = deep_attention.install(self.model, self.family)
        return self._attention_layers

    def prepare_for(self, injection: str) -> None:
        """Called for every adapter attached: installs what its injection needs in the backbone."""
        if INJECTIONS[injection].needs_attention_hook:
            self.attention_layers  # noqa: B018  (installs the hook)

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
        """Depths that take their own deep prompt (ALBERT: calls of its shared layers)."""
        return self.family.num_layers(self.config)

    @property
    def key_width(self) -> int:
        """Width of one layer's attention keys: heads x head size (DeBERTa may set a head size of its own)."""
        heads = self.config.num_attention_heads
        return heads * getattr(self.config, "attention_head_size", self.hidden_size // heads)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, prompts: Prompts | None = None) -> BackboneOutput:
        prompts = prompts or Prompts()
        inputs, text_index, cls_index = self.build_inputs(input_ids, attention_mask, token_type_ids, prompts)
        with ExitStack() as stack:
            for name, part in prompts.parts.items():
                stack.enter_context(INJECTIONS[name].during(self, part))
            arguments = stack.enter_context(family_attention.positions_in(self.model, self.family, inputs))
            result = self.model(**arguments, output_hidden_states=True)  # computed anyway; a head may read an earlier one
            states = result.last_hidden_state.float()  # (batch, k + seq, hidden)
        return BackboneOutput(states=states, mask=inputs["attention_mask"], text_index=text_index, cls_index=cls_index,
                              input_ids=input_ids, prompted=self, layers=result.hidden_states)

    def build_inputs(self, input_ids, attention_mask, token_type_ids=None, prompts: Prompts | None = None):
        """(backbone keyword arguments with input-level prompts inserted, text positions, [CLS] index)."""
        prompts = prompts or Prompts()
        batch, length = input_ids.shape
        words = self.word_embeddings(input_ids)  # (batch, seq, embedding width)
        inserted = [part for name, part in prompts.parts.items() if INJECTIONS[name].inserted_tokens(part)]
        if len(inserted) > 1:
            raise PtuneError("two injections insert virtual tokens into one forward; one input sequence holds one")
        virtual = inserted[0] if inserted else None  # the injection whose rows are virtual input tokens
        k = virtual.rows.shape[1] if virtual is not None else 0
        at = 1 if prompts.placement == "after_cls" else 0  # where input-level prompts go

        def insert(text: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return torch.cat([text[:, :at], rows, text[:, at:]], dim=1) if k else text

        virtual_mask = attention_mask.new_ones(batch, k) if not k or virtual.mask is None \
            else virtual.mask.to(attention_mask.dtype)
        mask = insert(attention_mask, virtual_mask)  # (batch, k + seq)
        inputs = {"inputs_embeds": insert(words, virtual.rows.to(words.dtype)) if k else words, "attention_mask": mask}
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
