"""PTuningModel: a frozen encoder backbone, k virtual tokens from a prompt encoder, and a head.

Data path: input_ids -> word embeddings -> virtual tokens inserted (after [CLS] or as a prefix)
-> frozen backbone -> pooled state -> head -> logits. In inference mode the prompt encoder is
replaced by its output, a fixed (k, hidden) table, so no encoder runs per request.
"""
from __future__ import annotations

import torch
from torch import nn

from ptune.backbone import PositionScheme, accepts_token_type_ids, freeze
from ptune.config import PTuningConfig
from ptune.encoders import PromptEncoder, build_encoder
from ptune.heads import ClassificationHead, pool
from ptune.precision import fp32_region


class PTuningModel(nn.Module):
    def __init__(self, backbone: nn.Module, config: PTuningConfig, *, num_labels: int, seed: int = 0):
        super().__init__()
        freeze(backbone)
        self.backbone = backbone
        self.config = config
        self.num_labels = num_labels
        hidden = backbone.config.hidden_size
        self.positions = PositionScheme.of(backbone)
        self._pass_token_types = accepts_token_type_ids(backbone)
        generator = torch.Generator().manual_seed(seed)
        self.encoder: PromptEncoder | None = build_encoder(
            config.encoder, num_virtual_tokens=config.num_virtual_tokens, hidden_size=hidden
        )
        self._init_encoder(generator)
        self.head = ClassificationHead(hidden, num_labels, config.head_dropout)
        self._init_head(generator)
        self.register_buffer("prompt_table", torch.zeros(config.num_virtual_tokens, hidden), persistent=False)
        self.uses_prompt_table = False

    # ---- construction -------------------------------------------------------------------
    def _init_encoder(self, generator: torch.Generator) -> None:
        if self.config.encoder.init == "vocab":
            self.encoder.init_from_vocabulary(self.word_embeddings.weight, generator)
        else:
            with torch.no_grad():
                self.encoder.embedding.weight.normal_(0.0, 1.0, generator=generator)

    def _init_head(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.head.out.weight.normal_(0.0, 0.02, generator=generator)
            self.head.out.bias.zero_()

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.backbone.get_input_embeddings()

    @property
    def num_virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    def max_text_length(self) -> int:
        """Longest text (in word pieces, with [CLS]/[SEP]) that fits beside the virtual tokens."""
        keeps_positions = self.config.placement == "after_cls" and self.positions.accepts_position_ids
        room = self.positions.limit if keeps_positions else self.positions.limit - self.num_virtual_tokens
        return min(self.config.max_length, room)

    def train(self, mode: bool = True) -> "PTuningModel":
        super().train(mode)
        if mode and not self.config.backbone_dropout:
            self.backbone.eval()
        return self

    # ---- the prompt -----------------------------------------------------------------------
    def prompt(self) -> torch.Tensor:
        """The k virtual-token embeddings, shape (k, hidden)."""
        if self.uses_prompt_table:
            return self.prompt_table
        with fp32_region(self.prompt_table.device):
            return self.encoder()

    @torch.no_grad()
    def fold_prompt(self) -> torch.Tensor:
        """Run the encoder once (in eval mode) and serve its output as a fixed table from now on."""
        was_training = self.encoder.training
        self.encoder.eval()
        self.prompt_table.copy_(self.encoder())
        self.encoder.train(was_training)
        self.uses_prompt_table = True
        return self.prompt_table

    def unfold_prompt(self) -> None:
        """Back to running the encoder (for training)."""
        if self.encoder is None:
            raise RuntimeError("this model was loaded for inference only (no encoder weights)")
        self.uses_prompt_table = False

    # ---- forward --------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(batch, seq) token ids -> (batch, num_labels) logits."""
        inputs, cls_index = self.build_inputs(input_ids, attention_mask, token_type_ids)
        states = self.backbone(**inputs).last_hidden_state.float()  # (batch, k + seq, hidden); pooled in fp32
        mask = inputs["attention_mask"]
        if self.config.pooling == "text_mean":  # the same mask with the virtual tokens' slots zeroed
            k, at = self.num_virtual_tokens, 1 if self.config.placement == "after_cls" else 0
            mask = torch.cat([mask[:, :at], mask.new_zeros(mask.shape[0], k), mask[:, at + k:]], dim=1)
        pooled = pool(states, mask, pooling=self.config.pooling, cls_index=cls_index)
        return self.head(pooled)

    def build_inputs(self, input_ids, attention_mask, token_type_ids=None) -> tuple[dict, int]:
        """Backbone keyword arguments with the k virtual tokens inserted, and the [CLS] index."""
        batch, length = input_ids.shape
        k = self.num_virtual_tokens
        at = 1 if self.config.placement == "after_cls" else 0  # where the virtual tokens go

        def insert(text: torch.Tensor, virtual: torch.Tensor) -> torch.Tensor:
            return torch.cat([text[:, :at], virtual, text[:, at:]], dim=1)

        words = self.word_embeddings(input_ids)  # (batch, seq, hidden)
        prompt = self.prompt().to(words.dtype).unsqueeze(0).expand(batch, -1, -1)  # (batch, k, hidden)
        inputs = {
            "inputs_embeds": insert(words, prompt),  # (batch, k + seq, hidden)
            "attention_mask": insert(attention_mask, attention_mask.new_ones(batch, k)),
        }
        if self._pass_token_types:
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            inputs["token_type_ids"] = insert(types, types.new_zeros(batch, k))
        if self.positions.accepts_position_ids:
            inputs["position_ids"] = self._position_ids(length, input_ids.device).expand(batch, -1)
        return inputs, (0 if at else k)

    def _position_ids(self, length: int, device) -> torch.Tensor:
        """after_cls: the virtual tokens share [CLS]'s position, so the text keeps its pretrained
        positions; prefix: positions run 0..k+seq-1 through prompt and text (PEFT's layout)."""
        offset, k = self.positions.offset, self.num_virtual_tokens
        if self.config.placement == "after_cls":
            text = offset + torch.arange(length, device=device)
            return torch.cat([text[:1], text[:1].repeat(k), text[1:]])
        return offset + torch.arange(k + length, device=device)

    # ---- bookkeeping ----------------------------------------------------------------------
    def trainable_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "head": list(self.head.parameters())}

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"encoder.{n}": p for n, p in self.encoder.state_dict().items()}
        state.update({f"head.{n}": p for n, p in self.head.state_dict().items()})
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.encoder.load_state_dict({n[8:]: t for n, t in state.items() if n.startswith("encoder.")})
        self.head.load_state_dict({n[5:]: t for n, t in state.items() if n.startswith("head.")})

    def parameter_counts(self) -> dict[str, int]:
        encoder = sum(p.numel() for p in self.encoder.parameters()) if self.encoder is not None else 0
        head = sum(p.numel() for p in self.head.parameters())
        backbone = sum(p.numel() for p in self.backbone.parameters())
        inference = self.prompt_table.numel() + head
        return {
            "encoder": encoder,
            "head": head,
            "trainable": encoder + head,
            "backbone": backbone,
            "total": backbone + encoder + head,
            "inference": inference,
        }
