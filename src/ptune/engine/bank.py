"""A bank of task adapters on one frozen backbone: an engine (ptune.engine.core) with named adapters.

Any set of adapters whose backbone fingerprints match shares one engine in memory; each costs
only its prompt table and head. A batch may mix rows of different tasks; the engine runs them
(one forward per group of rows that can share one), exactly as it runs a single-task model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ptune.data.transforms import collate
from ptune.engine.adapter import TaskAdapter
from ptune.engine.backbone import fingerprint as backbone_fingerprint, load_backbone
from ptune.engine.batched import MODEL_INPUTS, to_device
from ptune.engine.core import Engine
from ptune.errors import ConfigError
from ptune.engine.model import adapter_settings, load_adapter_weights
from ptune.format.artifacts import backbone_to_load, check_backbone, read_adapter_config
from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION


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
        return self.task.served_input_form(self.config.get("inputs"))

    def describe(self) -> dict:
        return {"name": self.name, "task": self.task.name, "labels": list(self.label_names),
                "input": self.input_form, "injection": self.adapter.config.injection,
                "virtual_tokens": self.adapter.num_virtual_tokens, "max_length": self.max_length,
                "dev_metrics": self.config.get("dev_metrics", {})}


class AdapterBank:
    """Adapters on one frozen backbone, by name. Adding and removing are thread-safe; a forward
    pass uses the adapter objects it was given, so a request already holding an adapter finishes
    with it even if its name is removed meanwhile."""

    def __init__(self, backbone, tokenizer, *, backbone_name: str | None = None, precision: str = DEFAULT_PRECISION,
                 device: str | torch.device | None = DEFAULT_DEVICE, fingerprint: str | None = None):
        """`device`: auto (CUDA when present), cpu, cuda[:N], or None to keep the backbone where it
        is; `precision="bf16"` stores the frozen backbone in bf16 once (faster on CPUs with native
        bf16, and on GPUs); prompt tables and heads stay fp32. The fingerprint is taken first (or given:
        a server's workers share weights the parent already fingerprinted)."""
        self.fingerprint = fingerprint or backbone_fingerprint(backbone)
        self.engine = Engine(backbone).eval()
        self.engine.configure(device=device, precision=precision)
        self.prompted = self.engine.prompted
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.backbone_name = backbone_name
        self._entries: dict[str, BankEntry] = {}
        self._lock = threading.Lock()
        # A fast tokenizer keeps its truncation settings in shared state that every call resets:
        # two threads tokenizing at once (a server's requests) could truncate with each other's.
        self._tokenizer_lock = threading.Lock()

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

    # ---- membership -------------------------------------------------------------------------
    def add(self, name: str, path: str | Path, *, replace: bool = False) -> BankEntry:
        """Load an adapter folder (or Hub id) under `name`; refused when its backbone fingerprint
        differs from this bank's backbone."""
        from ptune.format.artifacts import resolve_adapter

        check_task_name(name)
        directory = resolve_adapter(path)
        config = read_adapter_config(directory)
        check_backbone(directory, config, self.fingerprint, name=name)
        settings = adapter_settings(directory, config)
        adapter = TaskAdapter(settings, backbone=self.prompted, num_labels=len(config["task"]["label_names"]))
        load_adapter_weights(adapter, directory, config)
        self.engine.attach(adapter)
        adapter.eval()
        room = self.prompted.max_text_length(input_tokens=adapter.input_tokens, placement=settings.placement)
        entry = BankEntry(name=name, adapter=adapter, label_names=list(config["task"]["label_names"]), config=config,
                          path=Path(directory), max_length=min(settings.max_length, room))
        entry.task.prepare_decoding()
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
        mixed-task batches of up to `batch_size` rows (a long QA context may take several rows),
        each run as the server runs its batches (`run_by_length`: similar lengths share a forward)."""
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
            logits += self.run_by_length(rows[start:start + batch_size])
        return [self.decode(entry, logits[first:first + len(features)], [example], features)[0]
                for entry, example, features, first in items]

TASK_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_task_name(name: str) -> None:
    if not name or not set(name) <= TASK_NAME_CHARACTERS or name.startswith("."):
        raise ConfigError("AdapterBank", [f"task name {name!r}: use letters, digits, '-', '_' and '.' "
                                          "(not starting with '.'), e.g. sst2 or ner-en"])

