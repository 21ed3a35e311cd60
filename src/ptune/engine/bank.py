"""A bank of task adapters on one frozen backbone: an engine (ptune.engine.core) with named adapters.

Any set of adapters whose backbone fingerprints match shares one engine in memory; each costs
only its prompt table and head. A batch may mix rows of different tasks; the engine runs them
(one forward per group of rows that can share one), exactly as it runs a single-task model.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ptune.data.transforms import collate
from ptune.engine.adapter import TaskAdapter
from ptune.engine.backbone import fingerprint as backbone_fingerprint, load_backbone
from ptune.engine.batched import MODEL_INPUTS, to_device
from ptune.engine.core import Engine
from ptune.engine.entries import BankBase, BankEntry
from ptune.errors import ConfigError
from ptune.engine.model import load_task_adapter
from ptune.format.artifacts import backbone_to_load, read_adapter_config
from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION


class AdapterBank(BankBase):
    """Adapters on one frozen backbone, by name, run by the PyTorch engine (ptune.engine.entries
    holds what every bank does)."""

    runtime = "torch"

    def __init__(self, backbone, tokenizer, *, backbone_name: str | None = None, precision: str = DEFAULT_PRECISION,
                 device: str | torch.device | None = DEFAULT_DEVICE, fingerprint: str | None = None):
        """`device`: auto (CUDA when present), cpu, cuda[:N], or None to keep the backbone where it
        is; `precision="bf16"` stores the frozen backbone in bf16 once (faster on CPUs with native
        bf16, and on GPUs); prompt tables and heads stay fp32. The fingerprint is taken first (or given:
        a server's workers share weights the parent already fingerprinted)."""
        super().__init__(tokenizer, backbone_name=backbone_name, fingerprint=fingerprint or backbone_fingerprint(backbone))
        self.engine = Engine(backbone).eval()
        self.engine.configure(device=device, precision=precision)
        self.prompted = self.engine.prompted
        self.backbone = backbone

    @property
    def device(self) -> torch.device:
        return self.engine.device

    @property
    def bf16(self) -> bool:
        return self.engine.bf16

    @classmethod
    def from_adapters(cls, adapters: dict[str, str | Path], *, model_name: str | None = None,
                      precision: str = DEFAULT_PRECISION, device: str = DEFAULT_DEVICE) -> "AdapterBank":
        """A bank holding `{name: adapter folder or Hub id}`, on the backbone the first one records
        (or `model_name`). Every adapter must have been trained on the same backbone weights."""
        from ptune.format.artifacts import resolve_adapter

        if not adapters:
            raise ConfigError("AdapterBank", ["no adapters given; pass at least one name=DIR"])
        first = resolve_adapter(next(iter(adapters.values())))
        backbone_name = model_name or backbone_to_load(read_adapter_config(first)["backbone"], first)
        backbone, tokenizer = load_backbone(backbone_name)
        bank = cls(backbone, tokenizer, backbone_name=backbone_name, precision=precision, device=device)
        for name, path in adapters.items():
            bank.add(name, path)
        return bank

    @classmethod
    def for_backbone(cls, model_name: str | None, *, example_adapter: Path | None = None,
                     precision: str = DEFAULT_PRECISION, device: str = DEFAULT_DEVICE) -> "AdapterBank":
        """An empty bank on `model_name`, or on the backbone `example_adapter` records."""
        if model_name is None and example_adapter is None:
            raise ConfigError("AdapterBank", ["no adapter to take the backbone from: pass --model NAME, or put an "
                                              "adapter folder in --adapter-dir, or pass --adapter NAME=DIR"])
        name = model_name or backbone_to_load(read_adapter_config(example_adapter)["backbone"], example_adapter)
        backbone, tokenizer = load_backbone(name)
        return cls(backbone, tokenizer, backbone_name=name, precision=precision, device=device)

    def load_entry(self, name: str, path: str | Path) -> BankEntry:
        """An adapter folder (or Hub id), checked against this bank's backbone fingerprint."""
        from ptune.format.artifacts import resolve_adapter

        directory = resolve_adapter(path)
        adapter, config = load_task_adapter(directory, self.prompted, self.fingerprint, name=name)
        settings = adapter.config
        self.engine.attach(adapter)
        room = self.prompted.max_text_length(input_tokens=adapter.input_tokens, placement=settings.placement)
        return BankEntry(name=name, adapter=adapter, label_names=list(config["task"]["label_names"]), config=config,
                         path=Path(directory), max_length=min(settings.max_length, room))

    # ---- forward passes ---------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, batch: dict[str, torch.Tensor], adapters: list[TaskAdapter]) -> list[torch.Tensor]:
        """One logits tensor per row of `batch` (collated input_ids, attention_mask and
        token_type_ids), row i through `adapters[i]`: (labels,) or (tokens, labels), in fp32."""
        return self.engine.mixed_logits(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                                        adapters=adapters)

    def run(self, rows: list[tuple[BankEntry, dict]]) -> list[torch.Tensor]:
        """(entry, feature) rows of any tasks -> one logits tensor per row, padding cut off, on the CPU."""
        pad = self.tokenizer.pad_token_id
        batch = collate([{k: f[k] for k in ("input_ids", "token_type_ids") if k in f} for _, f in rows],
                        pad_token_id=pad)
        batch = to_device({k: batch[k] for k in MODEL_INPUTS}, self.device)
        logits = self.forward(batch, [entry.adapter for entry, _ in rows])
        return [row.cpu()[: len(f["input_ids"])] if row.ndim == 2 else row.cpu() for row, (_, f) in zip(logits, rows)]

