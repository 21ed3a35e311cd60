"""Input-level virtual tokens (P-tuning v1): k embeddings inserted after [CLS] or as a prefix."""
from __future__ import annotations

from ptune.injections.base import Injection, register_injection


@register_injection
class InputInjection(Injection):
    name = "input"

    def width(self, backbone) -> int:
        return backbone.embedding_size  # the input embeddings' width (ELECTRA: smaller than hidden)

    def prompts(self, rows, mask, *, placement):
        from ptune.prompted import Prompts

        return Prompts(input=rows, input_mask=mask, placement=placement)

    def input_tokens(self, num_virtual_tokens: int) -> int:
        return num_virtual_tokens
