"""Mixed-precision helpers: what runs in bf16, what stays in fp32.

Under bf16 autocast the frozen backbone's matmuls run in bf16; what trains (prompt encoder, head)
is tiny and computes in fp32, and the frozen Linear weights are stored in bf16 once instead of
being cast on every batch. For inference from a prompt table nothing in the backbone trains, so
the whole backbone can be stored in bf16 and run without autocast.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def frozen_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every floating-point parameter inside `model` that does not train."""
    return [p for p in model.parameters() if not p.requires_grad and p.is_floating_point()]


def frozen_linear_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Weights and biases of every nn.Linear inside `model` that do not train."""
    found = {}
    for module in model.modules():
        if isinstance(module, nn.Linear):
            for parameter in (module.weight, module.bias):
                if parameter is not None and not parameter.requires_grad and parameter.is_floating_point():
                    found[id(parameter)] = parameter
    return list(found.values())


def cast_parameters(parameters: list[nn.Parameter], dtype: torch.dtype) -> list[tuple[nn.Parameter, torch.Tensor]]:
    """Store `parameters` in `dtype`; returns (parameter, original tensor) pairs for those changed."""
    originals = []
    with torch.no_grad():
        for parameter in parameters:
            if parameter.dtype != dtype:
                originals.append((parameter, parameter.data))
                parameter.data = parameter.data.to(dtype)
    return originals


class FrozenCast:
    """Parameters stored in another dtype until `restore()` puts the original tensors back."""

    def __init__(self, parameters: list[nn.Parameter], dtype: torch.dtype | None):
        self._originals = cast_parameters(parameters, dtype) if dtype is not None else []
        self.count = len(self._originals)

    @property
    def active(self) -> bool:
        return bool(self._originals)

    def restore(self) -> None:
        """The original tensors, untouched, back in place; calling it again does nothing."""
        with torch.no_grad():
            for parameter, original in self._originals:
                parameter.data = original
        self._originals = []


@contextmanager
def stored_in(parameters: list[nn.Parameter], dtype: torch.dtype | None) -> Iterator[FrozenCast]:
    """Within the block, `parameters` are stored in `dtype` (None: unchanged); the original tensors
    are put back on exit, or earlier through the yielded `restore()`.

    Used for frozen weights under bf16: autocast keeps its cast cache only for weights that require
    grad, so a frozen backbone's weights would be cast to bf16 again on every forward pass. For the
    frozen Linear weights under autocast the outputs and gradients are bit-identical (tested).
    """
    cast = FrozenCast(parameters, dtype)
    try:
        yield cast
    finally:
        cast.restore()

