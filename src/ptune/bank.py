"""A bank of task adapters on one frozen backbone, and forward passes over mixed-task batches.

Any set of adapters whose backbone fingerprints match shares one PromptedBackbone in memory; each
costs only its prompt table and head. A batch may mix rows of different tasks:

    rows' adapters -> their prompt tables stacked (shorter prompts padded, the padding masked)
    -> gathered per row -> one backbone forward -> each row's states to its own adapter's head.

Input-level prompts placed after [CLS] and ones placed as a prefix cannot share a forward (the
text sits at different positions): such rows are grouped into one forward per placement. Deep
prompts share a forward with either kind: a row without input-level prompts sees them masked.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ptune.adapter import TaskAdapter
from ptune.artifacts import (adapter_settings, backbone_to_load, check_backbone, load_adapter_weights,
                             read_adapter_config)
from ptune.backbone import fingerprint, load_backbone
from ptune.batched import to_device
from ptune.data.transforms import collate
from ptune.errors import ConfigError
from ptune.prompted import BackboneOutput, PromptedBackbone, Prompts

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class BankEntry:
    """One task in the bank: its adapter, labels and where it came from."""

    name: str
    adapter: TaskAdapter
    label_names: list[str]
    config: dict = field(repr=False)
    path: Path | None = None
    max_length: int = 512
    """Longest text (word pieces, [CLS]/[SEP] included) this adapter reads beside its prompt."""

    @property
    def task(self):
        return self.adapter.task

    @property
    def input_form(self) -> str:
        """What a request gives: `text`, `pair` (two texts) or `words` (text split into words)."""
        if self.task.input_form in ("words", "qa"):
            return self.task.input_form
        return self.config.get("inputs", "text")

    def describe(self) -> dict:
        return {"name": self.name, "task": self.task.name, "labels": list(self.label_names),
                "input": self.input_form, "injection": self.adapter.config.injection,
                "virtual_tokens": self.adapter.num_virtual_tokens, "max_length": self.max_length,
                "dev_metrics": self.config.get("dev_metrics", {})}


def stacked_prompts(tables: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt tables of different lengths -> (n, K, width) padded to the longest, and a (n, K) mask."""
    longest = max(t.shape[0] for t in tables)
    rows = tables[0].new_zeros(len(tables), longest, tables[0].shape[1])
    mask = torch.zeros(len(tables), longest, dtype=torch.long, device=tables[0].device)
    for i, table in enumerate(tables):
        rows[i, : table.shape[0]], mask[i, : table.shape[0]] = table, 1
    return rows, mask


def forward_groups(adapters: list[TaskAdapter]) -> list[list[int]]:
    """Row indices grouped into the fewest backbone forwards: one per input-level placement; rows
    with deep prompts join the first group."""
    groups: dict[str | None, list[int]] = {}
    for row, adapter in enumerate(adapters):
        key = adapter.config.placement if adapter.input_tokens else None
        groups.setdefault(key, []).append(row)
    shared = groups.pop(None, [])
    if not groups:
        return [shared]
    ordered = list(groups.values())
    ordered[0] = sorted(ordered[0] + shared)
    return ordered


def select_rows(output: BackboneOutput, rows: torch.Tensor) -> BackboneOutput:
    return BackboneOutput(states=output.states[rows], mask=output.mask[rows], text_index=output.text_index,
                          cls_index=output.cls_index)


class AdapterBank:
    """Adapters on one frozen backbone, by name. Adding and removing are thread-safe; a forward
    pass uses the adapter objects it was given, so a request already holding an adapter finishes
    with it even if its name is removed meanwhile."""

    def __init__(self, backbone, tokenizer, *, backbone_name: str | None = None, precision: str = "fp32"):
        """`precision="bf16"` stores the frozen backbone in bf16 once (faster on CPUs with native
        bf16, and on GPUs); prompt tables and heads stay fp32. The fingerprint is taken first."""
        from ptune.runtime import resolve_precision

        self.fingerprint = fingerprint(backbone)
        self.bf16 = resolve_precision(precision) == "bf16"
        if self.bf16:
            from ptune.backbone import prefer_eager_attention
            from ptune.precision import cast_parameters, frozen_parameters

            backbone.requires_grad_(False)
            cast_parameters(frozen_parameters(backbone), torch.bfloat16)
            if next(backbone.parameters()).device.type == "cpu":
                prefer_eager_attention(backbone)
        self.prompted = PromptedBackbone(backbone).eval()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.backbone_name = backbone_name
        self.device = next(backbone.parameters()).device
        self._entries: dict[str, BankEntry] = {}
        self._lock = threading.Lock()
        # A fast tokenizer keeps its truncation settings in shared state that every call resets:
        # two threads tokenizing at once (a server's requests) could truncate with each other's.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def from_adapters(cls, adapters: dict[str, str | Path], *, model_name: str | None = None,
                      precision: str = "fp32") -> "AdapterBank":
        """A bank holding `{name: adapter folder or Hub id}`, on the backbone the first one records
        (or `model_name`). Every adapter must have been trained on the same backbone weights."""
        from ptune.hub import resolve_adapter

        if not adapters:
            raise ConfigError("AdapterBank", ["no adapters given; pass at least one name=DIR"])
        first = resolve_adapter(next(iter(adapters.values())))
        backbone_name = model_name or backbone_to_load(read_adapter_config(first)["backbone"])
        backbone, tokenizer = load_backbone(backbone_name)
        bank = cls(backbone, tokenizer, backbone_name=backbone_name, precision=precision)
        for name, path in adapters.items():
            bank.add(name, path)
        return bank

    @classmethod
    def for_backbone(cls, model_name: str | None, *, example_adapter: Path | None = None,
                     precision: str = "fp32") -> "AdapterBank":
        """An empty bank on `model_name`, or on the backbone `example_adapter` records."""
        if model_name is None and example_adapter is None:
            raise ConfigError("AdapterBank", ["no adapter to take the backbone from: pass --model NAME, or put an "
                                              "adapter folder in --adapter-dir, or pass --adapter NAME=DIR"])
        name = model_name or backbone_to_load(read_adapter_config(example_adapter)["backbone"])
        backbone, tokenizer = load_backbone(name)
        return cls(backbone, tokenizer, backbone_name=name, precision=precision)

    # ---- membership -------------------------------------------------------------------------
    def add(self, name: str, path: str | Path, *, replace: bool = False) -> BankEntry:
        """Load an adapter folder (or Hub id) under `name`; refused when its backbone fingerprint
        differs from this bank's backbone."""
        from ptune.hub import resolve_adapter

        check_task_name(name)
        directory = resolve_adapter(path)
        config = read_adapter_config(directory)
        check_backbone(directory, config, self.fingerprint, name=name)
        settings = adapter_settings(directory, config)
        adapter = TaskAdapter(settings, backbone=self.prompted, num_labels=len(config["task"]["label_names"]))
        load_adapter_weights(adapter, directory, config)
        adapter.to(self.device).eval()
        room = self.prompted.max_text_length(input_tokens=adapter.input_tokens, placement=settings.placement)
        entry = BankEntry(name=name, adapter=adapter, label_names=list(config["task"]["label_names"]), config=config,
                          path=Path(directory), max_length=min(settings.max_length, room))
        with self._lock:
            if name in self._entries and not replace:
                raise ConfigError("AdapterBank", [f"a task named {name!r} is already loaded "
                                                  f"(from {self._entries[name].path}); choose another name"])
            self._entries[name] = entry
        return entry

    def remove(self, name: str) -> BankEntry | None:
        with self._lock:
            return self._entries.pop(name, None)

    def get(self, name: str) -> BankEntry | None:
        with self._lock:
            return self._entries.get(name)

    def entries(self) -> dict[str, BankEntry]:
        with self._lock:
            return dict(self._entries)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self.entries())

    # ---- inputs -----------------------------------------------------------------------------
    def examples(self, entry: BankEntry, inputs: list) -> list:
        """Request inputs (strings, [text, pair] for pair tasks, {question, context} for QA) -> the task's examples."""
        return [entry.task.example(item, i) for i, item in enumerate(inputs)]

    def features(self, entry: BankEntry, examples: list) -> list[dict]:
        with self._tokenizer_lock:
            return entry.task.features(examples, tokenizer=self.tokenizer, max_length=entry.max_length, labels=None,
                                       config=entry.adapter.config.task)

    def decode(self, entry: BankEntry, logits: list[torch.Tensor], examples: list, features: list[dict]) -> list[dict]:
        """One prediction per example, from the logits of its features."""
        return entry.task.decode_batch(logits, examples, features, entry.label_names, config=entry.adapter.config.task)

    # ---- forward passes ---------------------------------------------------------------------
    def mixed_prompts(self, adapters: list[TaskAdapter], *, placement: str) -> Prompts:
        """Per-row prompts for rows of possibly different adapters: each injection's tables are
        stacked once per distinct adapter and gathered per row; other rows see them masked."""
        prompts = Prompts(placement=placement)
        for injection in ("input", "deep"):
            members = list({id(a): a for a in adapters if a.config.injection == injection}.values())
            if not members:
                continue
            dtype = self.prompted.word_embeddings.weight.dtype  # the backbone's storage (bf16 or fp32)
            table, mask = stacked_prompts([a.prompt().to(dtype) for a in members])
            position = {id(a): i for i, a in enumerate(members)}
            index = torch.tensor([position.get(id(a), -1) for a in adapters], device=table.device)
            rows, row_mask = table[index.clamp(min=0)], mask[index.clamp(min=0)] * (index >= 0).unsqueeze(1)
            if injection == "input":
                prompts.input, prompts.input_mask = rows, row_mask
            else:
                prompts.deep, prompts.deep_mask = rows, row_mask
        return prompts

    @torch.inference_mode()
    def forward(self, batch: dict[str, torch.Tensor], adapters: list[TaskAdapter]) -> list[torch.Tensor]:
        """One logits tensor per row of `batch` (collated input_ids, attention_mask and
        token_type_ids), row i through `adapters[i]`: (labels,) or (tokens, labels), in fp32."""
        out: list[torch.Tensor | None] = [None] * len(adapters)
        for group in forward_groups(adapters):
            rows = torch.tensor(group, device=batch["input_ids"].device)
            members = [adapters[i] for i in group]
            placement = next((a.config.placement for a in members if a.input_tokens), "after_cls")
            output = self.prompted(batch["input_ids"][rows], batch["attention_mask"][rows],
                                   batch["token_type_ids"][rows], prompts=self.mixed_prompts(members, placement=placement))
            by_adapter: dict[int, list[int]] = {}
            for position, adapter in enumerate(members):
                by_adapter.setdefault(id(adapter), []).append(position)
            for positions in by_adapter.values():
                adapter = members[positions[0]]
                logits = adapter.logits(select_rows(output, torch.tensor(positions, device=rows.device))).float()
                for position, row_logits in zip(positions, logits):
                    out[group[position]] = row_logits
        return out

    def run(self, rows: list[tuple[BankEntry, dict]]) -> list[torch.Tensor]:
        """(entry, feature) rows of any tasks -> one logits tensor per row, padding cut off, on the CPU."""
        pad = self.tokenizer.pad_token_id
        batch = collate([{k: f[k] for k in ("input_ids", "token_type_ids") if k in f} for _, f in rows],
                        pad_token_id=pad)
        batch = to_device({k: batch[k] for k in MODEL_INPUTS}, self.device)
        logits = self.forward(batch, [entry.adapter for entry, _ in rows])
        return [row.cpu()[: len(f["input_ids"])] if row.ndim == 2 else row.cpu() for row, (_, f) in zip(logits, rows)]

    def run_by_length(self, rows: list[tuple[BankEntry, dict]], *, max_padding: float = 0.25) -> list[torch.Tensor]:
        """`run` over rows of mixed lengths: sorted by length and cut into forwards whose longest row
        is at most (1 + max_padding) times their shortest, so short rows are not padded to long ones
        (on a CPU a forward costs about rows x longest length). Tasks still mix within a forward."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]["input_ids"]))
        out: list[torch.Tensor | None] = [None] * len(rows)
        start = 0
        while start < len(order):
            shortest = len(rows[order[start]][1]["input_ids"])
            end = start + 1
            while end < len(order) and len(rows[order[end]][1]["input_ids"]) <= (1 + max_padding) * shortest:
                end += 1
            chunk = order[start:end]
            for i, logits in zip(chunk, self.run([rows[i] for i in chunk])):
                out[i] = logits
            start = end
        return out

    def predict(self, requests: list[tuple[str, object]], *, batch_size: int = 64) -> list[dict]:
        """[(task name, input)] of any tasks, in any order -> one decoded prediction per item, with
        mixed-task batches of up to `batch_size` rows (a long QA context may take several rows)."""
        items, rows = [], []
        for name, item in requests:
            entry = self.get(name)
            if entry is None:
                raise ConfigError("AdapterBank.predict", [f"no task named {name!r}; loaded: {sorted(self.entries())}"])
            example = self.examples(entry, [item])[0]
            features = self.features(entry, [example])
            items.append((entry, example, features, len(rows)))
            rows += [(entry, feature) for feature in features]
        logits = []
        for start in range(0, len(rows), batch_size):
            logits += self.run(rows[start:start + batch_size])
        return [self.decode(entry, logits[first:first + len(features)], [example], features)[0]
                for entry, example, features, first in items]

TASK_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_task_name(name: str) -> None:
    if not name or not set(name) <= TASK_NAME_CHARACTERS or name.startswith("."):
        raise ConfigError("AdapterBank", [f"task name {name!r}: use letters, digits, '-', '_' and '.' "
                                          "(not starting with '.'), e.g. sst2 or ner-en"])

