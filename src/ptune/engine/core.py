"""The engine: one frozen backbone, its device and precision, and the one forward pass of ptune.

Every forward goes through `Engine.run_groups`: training (`PTuningModel`), `Predictor`, `ptune eval`,
`ptune export`, the adapter bank and `ptune serve`. A single-task model is an engine with one
adapter; a bank is an engine with many. Rows of one batch may belong to different adapters:

    rows' adapters -> each injection stacks its adapters' prompt tables (shorter ones padded and
    masked) -> one backbone forward per group of rows that can share one -> each row's states to
    its own adapter's head.

Rows whose injections disagree on where the text sits (input-level prompts after [CLS] and ones
placed as a prefix) are grouped into one forward each; deep prompts join any group.
"""
from __future__ import annotations

import torch
from torch import nn

from ptune.engine.groups import group_rows
from ptune.engine.prompted import BackboneOutput, PromptedBackbone
from ptune.injections import INJECTIONS, Prompts
from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION, resolve_device, uses_bf16


def forward_key(adapter) -> str | None:
    return INJECTIONS[adapter.config.injection].forward_key(adapter.config)


def forward_groups(adapters: list) -> list[list[int]]:
    """Row indices grouped into the fewest backbone forwards (ptune.engine.groups)."""
    return group_rows([forward_key(adapter) for adapter in adapters])


def select_rows(output: BackboneOutput, rows: torch.Tensor) -> BackboneOutput:
    return BackboneOutput(states=output.states[rows], mask=output.mask[rows], text_index=output.text_index,
                          cls_index=output.cls_index,
                          input_ids=None if output.input_ids is None else output.input_ids[rows],
                          prompted=output.prompted,
                          layers=None if output.layers is None else tuple(layer[rows] for layer in output.layers))


class Engine(nn.Module):
    """A frozen backbone that runs the rows of any adapters attached to it.

    `device`: `auto` (CUDA when present), `cpu`, `cuda[:N]`, a torch.device, or None to leave the
    backbone where it is (training: accelerate places it). `precision`: `auto`, `fp32` or `bf16`;
    in bf16 the frozen backbone is stored in bf16 once (inference), prompt tables and heads stay fp32.
    """

    def __init__(self, backbone: nn.Module, *, device: str | torch.device | None = None,
                 precision: str = "fp32"):
        super().__init__()
        self.prompted = PromptedBackbone(backbone)
        self.bf16 = False
        if device is not None or precision != "fp32":
            self.configure(device=device, precision=precision)

    @property
    def backbone(self) -> nn.Module:
        return self.prompted.model

    @property
    def device(self) -> torch.device:
        return self.prompted.word_embeddings.weight.device

    def configure(self, *, device: str | torch.device | None = DEFAULT_DEVICE, precision: str = DEFAULT_PRECISION
                  ) -> "Engine":
        """Move the backbone to `device` (None: where it is) and store it in `precision` for
        inference; decided here only."""
        from ptune.engine.backbone import prefer_eager_attention
        from ptune.engine.precision import cast_parameters, frozen_parameters

        target = device if isinstance(device, torch.device) else (
            self.device if device is None else resolve_device(device))
        self.prompted.to(target)
        self.bf16 = uses_bf16(precision, target)
        if self.bf16:
            cast_parameters(frozen_parameters(self.backbone), torch.bfloat16)
            if target.type == "cpu":
                prefer_eager_attention(self.backbone)  # measured faster for bf16 on CPU (backbone.py)
        return self

    def attach(self, adapter) -> None:
        """Prepare the backbone for `adapter`'s injection and move the adapter to the engine's device."""
        self.prompted.prepare_for(adapter.config.injection)
        adapter.to(self.device)

    def prompts(self, adapters: list, *, placement: str) -> Prompts:
        """Per-row prompts for rows of possibly different adapters: each injection present stacks
        the tables of its adapters; each distinct adapter's prompt is computed once."""
        dtype = self.prompted.word_embeddings.weight.dtype  # the backbone's storage (bf16 or fp32)
        tables = {id(a): a.prompt().to(dtype) for a in {id(a): a for a in adapters}.values()}
        parts = {}
        for name in dict.fromkeys(a.config.injection for a in adapters):
            part = INJECTIONS[name].stack([tables[id(a)] if a.config.injection == name else None for a in adapters])
            if part is not None:
                parts[name] = part
        return Prompts(parts=parts, placement=placement)

    def backbone_forward(self, input_ids, attention_mask, token_type_ids=None, prompts: Prompts | None = None
                         ) -> BackboneOutput:
        """The one forward of the frozen backbone. Every path comes through here: adapters' rows
        (`run_groups`, which `logits` is a case of), the prompt-free states (`states`) and the
        exported backbone graph (ptune.inference.graph_export)."""
        return self.prompted(input_ids, attention_mask, token_type_ids, prompts=prompts)

    def run_groups(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None,
                   adapters) -> list:
        """The one way adapters run: (row indices, adapter, logits of those rows) for every adapter
        present; logits (rows, labels) or (rows, seq, labels). `adapters` is a list (row i through
        adapters[i]: the bank's mixed batches) or one adapter for every row (a single-task model:
        one group, row indices None, the batch size never read as a Python number, so an exported
        graph keeps its batch dimension dynamic)."""
        if not isinstance(adapters, (list, tuple)):
            dtype = self.prompted.word_embeddings.weight.dtype
            part = INJECTIONS[adapters.config.injection].uniform(adapters.prompt().to(dtype), input_ids.shape[0])
            prompts = Prompts(parts={adapters.config.injection: part}, placement=adapters.config.placement)
            return [(None, adapters, self.head(adapters, self.backbone_forward(input_ids, attention_mask,
                                                                               token_type_ids, prompts)))]
        results = []
        for group in forward_groups(adapters):
            whole = len(group) == len(adapters)
            rows = None if whole else torch.tensor(group, device=input_ids.device)
            pick = (lambda t: t) if whole else (lambda t: None if t is None else t[rows])  # noqa: E731
            members = [adapters[i] for i in group]
            placement = next((a.config.placement for a in members if a.input_tokens), "after_cls")
            output = self.backbone_forward(pick(input_ids), pick(attention_mask), pick(token_type_ids),
                                           prompts=self.prompts(members, placement=placement))
            by_adapter: dict[int, list[int]] = {}
            for position, adapter in enumerate(members):
                by_adapter.setdefault(id(adapter), []).append(position)
            for positions in by_adapter.values():
                adapter = members[positions[0]]
                results.append(([group[p] for p in positions], adapter,
                                self.head(adapter, output, positions, len(members))))
        return results

    @staticmethod
    def head(adapter, output: BackboneOutput, positions: list[int] | None = None, rows: int | None = None):
        """`adapter`'s head over its rows of a forward's output (all of them when `positions` is None
        or covers every row)."""
        if positions is not None and len(positions) != rows:
            output = select_rows(output, torch.tensor(positions, device=output.states.device))
        return adapter.logits(output)

    def states(self, input_ids, attention_mask, token_type_ids=None) -> BackboneOutput:
        """The backbone's own output, no prompt: what the lab's probes and a prompt's start from
        text read. The same forward as every adapter's, with nothing injected."""
        return self.backbone_forward(input_ids, attention_mask, token_type_ids)

    def logits(self, input_ids, attention_mask, token_type_ids=None, *, adapter) -> torch.Tensor:
        """Every row through one adapter: (batch, labels) or (batch, seq, labels); `run_groups`
        with one adapter for every row."""
        ((_, _, logits),) = self.run_groups(input_ids, attention_mask, token_type_ids, adapter)
        return logits

    def mixed_logits(self, input_ids, attention_mask, token_type_ids=None, *, adapters: list) -> list[torch.Tensor]:
        """Row i through `adapters[i]`: one fp32 logits tensor per row, (labels,) or (seq, labels)."""
        out: list[torch.Tensor | None] = [None] * len(adapters)
        for rows, _, logits in self.run_groups(input_ids, attention_mask, token_type_ids, adapters):
            for row, row_logits in zip(rows, logits.float()):
                out[row] = row_logits
        return out
