"""Deep prompts (P-tuning v2): k trainable keys and values in every attention layer.

The prompt of one position is (layers, key/value, hidden) numbers; the text attends to them in
every layer, they attend to nothing and are never projected, so they add no sequence positions."""
from __future__ import annotations

from ptune.injections import deep_attention
from ptune.injections.base import Injection, register_injection


@register_injection
class DeepInjection(Injection):
    name = "deep"
    needs_attention_hook = True

    def width(self, backbone) -> int:
        return backbone.num_layers * 2 * backbone.key_width

    def input_tokens(self, num_virtual_tokens: int) -> int:
        return 0

    def during(self, prompted, part):
        return deep_attention.prompts_in(prompted.attention_layers, part.rows, part.mask,
                                         heads=prompted.config.num_attention_heads)
