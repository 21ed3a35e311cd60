"""Deep prompts (P-tuning v2): k trainable keys and values in every attention layer.

The prompt of one position is (layers, key/value, hidden) numbers; the text attends to them in
every layer, they attend to nothing and are never projected, so they add no sequence positions."""
from __future__ import annotations

from ptune.injections.base import Injection, register_injection


@register_injection
class DeepInjection(Injection):
    name = "deep"

    def width(self, backbone) -> int:
        return backbone.num_layers * 2 * backbone.hidden_size

    def prompts(self, rows, mask, *, placement):
        from ptune.prompted import Prompts

        return Prompts(deep=rows, deep_mask=mask)

    def input_tokens(self, num_virtual_tokens: int) -> int:
        return 0
