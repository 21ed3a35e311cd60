"""Where prompts enter the backbone. An injection is one class, registered under its name; it
declares the width of a prompt row, how many positions it adds to the input, which rows can share
a forward pass, how the rows of several adapters stack into one batch (as LoRAX's adapter types
build their own batch data), and what it does to the forward pass. The engine and the prompted
backbone know no injection by name: a new one is one file."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ptune.injections.catalog import INJECTION_MODULES
from ptune.registry import add_unique

INJECTIONS: dict[str, "Injection"] = {}


def register_injection(cls: type["Injection"]) -> type["Injection"]:
    """Class decorator; a name registered twice is refused (an injection would silently vanish)."""
    add_unique(INJECTIONS, cls.name, cls(), kind="injection")
    INJECTION_MODULES.setdefault(cls.name, cls.__module__)
    return cls


@dataclass
class PromptPart:
    """One injection's prompts for one forward pass."""

    rows: torch.Tensor
    """(batch, K, width): each row's prompt, shorter prompts padded to the longest K."""
    mask: torch.Tensor | None = None
    """(batch, K) 1 for a real prompt position, 0 for padding or a row without this injection;
    None: every position of every row is real."""


@dataclass
class Prompts:
    """What one forward pass injects: a part per injection present, and where input-level
    virtual tokens go (one placement per forward)."""

    parts: dict[str, PromptPart] = field(default_factory=dict)
    placement: str = "after_cls"

    def get(self, injection: str) -> PromptPart | None:
        return self.parts.get(injection)


class Injection:
    name: ClassVar[str] = "base"
    needs_attention_hook: ClassVar[bool] = False
    """True when the backbone's attention layers must read this injection's prompts (deep prompts)."""

    def width(self, backbone) -> int:
        """Numbers per virtual position that the prompt encoder must produce."""
        raise NotImplementedError

    def input_tokens(self, num_virtual_tokens: int) -> int:
        """Positions added to every input sequence (they pass through every layer's projections)."""
        raise NotImplementedError

    def forward_key(self, config) -> str | None:
        """Rows whose adapters give different keys cannot share a forward pass; None joins any."""
        return None

    def uniform(self, table: torch.Tensor, batch: int) -> PromptPart:
        """Every row of the batch carries the same (k, width) table (a single-task forward; `batch`
        may be a traced, symbolic size)."""
        return PromptPart(rows=table.unsqueeze(0).expand(batch, -1, -1))

    def stack(self, tables: list[torch.Tensor | None]) -> PromptPart | None:
        """Per row, its adapter's (k, width) table, or None for a row without this injection ->
        this injection's part of the batch: the tables padded to the longest k, the padding and the
        rows without a table masked; no mask at all when every row is full."""
        present = [t for t in tables if t is not None]
        if not present:
            return None
        distinct = list({id(t): t for t in present}.values())
        longest = max(t.shape[0] for t in distinct)
        if len(distinct) == 1 and len(present) == len(tables):  # one adapter: its table, as it is
            return self.uniform(distinct[0], len(tables))
        stacked = distinct[0].new_zeros(len(distinct), longest, distinct[0].shape[1])
        real = torch.zeros(len(distinct), longest, dtype=torch.long, device=distinct[0].device)
        for i, table in enumerate(distinct):
            stacked[i, : table.shape[0]], real[i, : table.shape[0]] = table, 1
        position = {id(t): i for i, t in enumerate(distinct)}
        index = torch.tensor([position[id(t)] if t is not None else -1 for t in tables], device=stacked.device)
        rows, mask = stacked[index.clamp(min=0)], real[index.clamp(min=0)] * (index >= 0).unsqueeze(1)
        full = bool(mask.all())
        return PromptPart(rows=rows, mask=None if full else mask)

    def during(self, prompted, part: PromptPart):
        """A context around the backbone's forward pass (deep prompts set the layers' keys/values)."""
        return nullcontext()

    # Injections that change the input sequence override these (input-level virtual tokens).
    def inserted_tokens(self, part: PromptPart | None) -> int:
        return 0
