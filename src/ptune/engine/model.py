"""PTuningModel: a frozen prompted backbone and one task adapter (a bank of one).

Data path (ptune.engine.core, the one forward of every path): input_ids -> PromptedBackbone (the
adapter's prompt injected at the input or in every attention layer) -> states -> the task's head -> logits. In inference mode the prompt encoder is
replaced by its output, a fixed table, so no encoder runs per request.
"""
from __future__ import annotations

import torch
from torch import nn

from ptune.config import PTuningConfig
from ptune.engine.adapter import TaskAdapter
from ptune.engine.core import Engine


class PTuningModel(nn.Module):
    def __init__(self, backbone: nn.Module, config: PTuningConfig, *, num_labels: int, seed: int = 0):
        super().__init__()
        self.engine = Engine(backbone)  # an engine with one adapter: the forward of every path
        self.prompted = self.engine.prompted
        self.backbone = backbone
        self.config = config
        self.num_labels = num_labels
        self.adapter = TaskAdapter(config, backbone=self.prompted, num_labels=num_labels, seed=seed)

    # The adapter's parts, under the names the loop, artifacts and tests use.
    encoder = property(lambda self: self.adapter.encoder)
    head = property(lambda self: self.adapter.head)
    prompt_table = property(lambda self: self.adapter.prompt_table)
    task = property(lambda self: self.adapter.task)

    @encoder.setter
    def encoder(self, value) -> None:
        self.adapter.encoder = value

    @property
    def uses_prompt_table(self) -> bool:
        return self.adapter.uses_prompt_table

    @uses_prompt_table.setter
    def uses_prompt_table(self, value: bool) -> None:
        self.adapter.uses_prompt_table = value

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.prompted.word_embeddings

    @property
    def num_virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    @property
    def input_tokens(self) -> int:
        return self.adapter.input_tokens

    def max_text_length(self) -> int:
        """Longest text (in word pieces, with [CLS]/[SEP]) that fits beside the virtual tokens."""
        room = self.prompted.max_text_length(input_tokens=self.input_tokens, placement=self.config.placement)
        return min(self.config.max_length, room)

    def train(self, mode: bool = True) -> "PTuningModel":
        super().train(mode)
        if mode and not self.config.backbone_dropout:
            self.backbone.eval()
        return self

    def prompt(self) -> torch.Tensor:
        return self.adapter.prompt()

    def fold_prompt(self) -> torch.Tensor:
        return self.adapter.fold_prompt()

    def unfold_prompt(self) -> None:
        self.adapter.unfold_prompt()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq) token ids -> the task's logits: (batch, labels) or (batch, seq, labels)."""
        return self.engine.logits(input_ids, attention_mask, token_type_ids, adapter=self.adapter)

    def trainable_parameters(self) -> dict[str, list[nn.Parameter]]:
        return self.adapter.trainable_parameters()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return self.adapter.trainable_state_dict()

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.adapter.load_trainable_state_dict(state)

    # ---- sharing ------------------------------------------------------------------------
    def save_pretrained(self, directory, *, label_names: list[str], backbone_name: str | None = None,
                        overwrite: bool = False):
        """Write an adapter folder with a model card; `from_pretrained` and the Hub read it back."""
        from ptune.format.artifacts import save_adapter
        from ptune.format.hub import write_model_card

        folder = save_adapter(self, directory, label_names=label_names, backbone_name=backbone_name, overwrite=overwrite)
        write_model_card(folder)
        return folder

    @classmethod
    def from_pretrained(cls, name_or_path, *, backbone=None, tokenizer=None, with_encoder: bool = False,
                        allow_backbone_mismatch: bool = False) -> "PTuningModel":
        """An adapter from a folder or a Hub repo id (downloaded, or found in the Hub cache offline),
        on its recorded backbone or the one given."""
        from ptune.format.artifacts import load_adapter

        model, _, _ = load_adapter(name_or_path, backbone=backbone, tokenizer=tokenizer, with_encoder=with_encoder,
                                   allow_backbone_mismatch=allow_backbone_mismatch)
        return model

    def parameter_counts(self) -> dict[str, int]:
        encoder = sum(p.numel() for p in self.encoder.parameters()) if self.encoder is not None else 0
        head = sum(p.numel() for p in self.head.parameters())
        backbone = sum(p.numel() for p in self.backbone.parameters())
        return {"encoder": encoder, "head": head, "trainable": encoder + head, "backbone": backbone,
                "total": backbone + encoder + head, "inference": self.prompt_table.numel() + head}
