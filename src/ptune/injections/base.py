"""Where prompts enter the backbone. An injection declares the width of the prompt it needs per
virtual position and turns per-row prompt rows into the backbone's `Prompts`."""
from __future__ import annotations

from typing import ClassVar

import torch

INJECTIONS: dict[str, "Injection"] = {}


def register_injection(cls: type["Injection"]) -> type["Injection"]:
    INJECTIONS[cls.name] = cls()
    return cls


class Injection:
    name: ClassVar[str] = "base"

    def width(self, backbone) -> int:
        """Numbers per virtual position that the prompt encoder must produce."""
        raise NotImplementedError

    def prompts(self, rows: torch.Tensor, mask: torch.Tensor | None, *, placement: str):
        """rows: (batch, k, width) -> the backbone's `Prompts` for one forward pass."""
        raise NotImplementedError

    def input_tokens(self, num_virtual_tokens: int) -> int:
        """Positions added to every input sequence (they pass through every layer's projections)."""
        raise NotImplementedError
