"""Input-level virtual tokens (P-tuning v1): k embeddings inserted after [CLS] or as a prefix."""
from __future__ import annotations

from ptune.injections.base import Injection, register_injection


@register_injection
class InputInjection(Injection):
    name = "input"

    def width(self, backbone) -> int:
        return backbone.embedding_size  # the input embeddings' width (ELECTRA: smaller than hidden)

    def input_tokens(self, num_virtual_tokens: int) -> int:
        return num_virtual_tokens

    def forward_key(self, config) -> str:
        return config.placement  # after [CLS] or before it: the text sits at different positions

    def inserted_tokens(self, part) -> int:
        return 0 if part is None else part.rows.shape[1]
