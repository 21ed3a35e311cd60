"""What every prompt encoder network shares: the base module and the registry of networks."""
from __future__ import annotations

import torch
from torch import nn

from ptune.encoders.configs import EncoderConfig, register_encoder_config
from ptune.errors import ConfigError
from ptune.registry import add_unique, qualified

ENCODERS: dict[str, tuple[type[EncoderConfig], type["PromptEncoder"]]] = {}
"""Encoder name -> (config class, network class); the config classes alone are ENCODER_CONFIGS (no torch)."""


def register_encoder(name: str, config_cls: type[EncoderConfig]):
    """Class decorator: `@register_encoder("mlp", MLPEncoderConfig)` on the encoder module."""

    def wrap(encoder_cls: type[PromptEncoder]) -> type[PromptEncoder]:
        add_unique(ENCODERS, name, (config_cls, encoder_cls), kind="prompt encoder",
                   identity=lambda entry: qualified(entry[1]))
        register_encoder_config(name, config_cls)
        return encoder_cls

    return wrap


class PromptEncoder(nn.Module):
    """Maps the indices 0..k-1 of the virtual tokens to k prompt rows of `output_size` numbers."""

    def __init__(self, num_virtual_tokens: int, hidden_size: int, output_size: int | None = None):
        super().__init__()
        self.num_virtual_tokens = num_virtual_tokens
        self.hidden_size = hidden_size
        """Width of the k input embeddings (the backbone's word-embedding width)."""
        self.output_size = output_size or hidden_size
        """Width of each output row: hidden_size for input-level prompts, layers * 2 * hidden for deep ones."""
        self.embedding = nn.Embedding(num_virtual_tokens, hidden_size)

    def init_from_vocabulary(self, word_embeddings: torch.Tensor, generator: torch.Generator) -> None:
        """Start the k input embeddings as copies of k distinct random vocabulary rows."""
        if word_embeddings.shape[1] != self.embedding.weight.shape[1]:
            raise ConfigError(type(self).__name__, [
                f"init='vocab' copies word embeddings of width {word_embeddings.shape[1]} into prompt rows of "
                f"width {self.embedding.weight.shape[1]}; use init='random' (encoder=embedding with deep prompts)"])
        vocab_size = word_embeddings.shape[0]
        if vocab_size >= self.num_virtual_tokens:
            rows = torch.randperm(vocab_size, generator=generator)[: self.num_virtual_tokens]
        else:  # a toy vocabulary smaller than k: repeats are unavoidable
            rows = torch.randint(vocab_size, (self.num_virtual_tokens,), generator=generator)
        with torch.no_grad():
            self.embedding.weight.copy_(word_embeddings[rows])

    def forward(self) -> torch.Tensor:
        """Returns the prompt, shape (k, output_size)."""
        return self.transform(self.embedding.weight)

    def transform(self, embeddings: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_encoder(config: EncoderConfig, *, num_virtual_tokens: int, hidden_size: int,
                  output_size: int | None = None) -> PromptEncoder:
    from ptune.encoders import load_networks

    load_networks()
    if config.name not in ENCODERS:
        raise ConfigError("encoder", [f"{type(config).__name__} ({config.name!r}) has settings but no network: register "
                                      "one with ptune.encoders.register_encoder"])
    return ENCODERS[config.name][1](config, num_virtual_tokens=num_virtual_tokens, hidden_size=hidden_size,
                                    output_size=output_size)
