"""What every bank of task adapters on one backbone does, whichever engine runs it: adapters by
name (thread-safe), request inputs to features, mixed-task rows cut into forwards of similar
length, predictions decoded. `ptune.engine.bank.AdapterBank` runs the rows with PyTorch,
`ptune.inference.onnx_bank.OnnxBank` with ONNX Runtime; the server (ptune.serve) takes either.

Free of torch: a server of ONNX exports imports it without PyTorch installed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ptune.errors import ConfigError


@dataclass
class BankEntry:
    """One task in the bank: its adapter, labels and where it came from."""

    name: str
    adapter: object
    """A TaskAdapter (PyTorch) or an OnnxAdapter: its task, settings and prompt."""
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


class BankBase:
    """Adapters on one frozen backbone, by name. Adding and removing are thread-safe; a forward
    pass uses the adapter objects it was given, so a request already holding an adapter finishes
    with it even if its name is removed meanwhile. A subclass loads adapters (`load_entry`) and
    runs rows (`run`)."""

    runtime = "base"

    def __init__(self, tokenizer, *, backbone_name: str | None, fingerprint: str):
        self.tokenizer = tokenizer
        self.backbone_name = backbone_name
        self.fingerprint = fingerprint
        self._entries: dict[str, BankEntry] = {}
        self._lock = threading.Lock()
        # A fast tokenizer keeps its truncation settings in shared state that every call resets:
        # two threads tokenizing at once (a server's requests) could truncate with each other's.
        self._tokenizer_lock = threading.Lock()

    # ---- membership -------------------------------------------------------------------------
    def load_entry(self, name: str, path: str | Path) -> BankEntry:
        raise NotImplementedError

    def add(self, name: str, path: str | Path, *, replace: bool = False) -> BankEntry:
        """Load an adapter under `name`; refused when it was made for other backbone weights."""
        check_task_name(name)
        entry = self.load_entry(name, path)
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

    def decode(self, entry: BankEntry, logits: list, examples: list, features: list[dict]) -> list[dict]:
        """One prediction per example, from the logits of its features."""
        return entry.task.decode_batch(logits, examples, features, entry.label_names, config=entry.adapter.config.task)

    # ---- forward passes ---------------------------------------------------------------------
    def run(self, rows: list[tuple[BankEntry, dict]]) -> list:
        """(entry, feature) rows of any tasks -> one logits array per row, padding cut off, on the CPU."""
        raise NotImplementedError

    def run_by_length(self, rows: list[tuple[BankEntry, dict]], *, max_padding: float = 0.25) -> list:
        """`run` over rows of mixed lengths, cut into forwards by the one scoring planner
        (ptune.data.batching.inference_batches): a forward's longest row is at most (1 + max_padding)
        times its shortest. Tasks still mix within a forward."""
        from ptune.data.batching import inference_batches

        out: list = [None] * len(rows)
        for batch in inference_batches([len(feature["input_ids"]) for _, feature in rows], max_padding=max_padding):
            for i, logits in zip(batch, self.run([rows[i] for i in batch])):
                out[i] = logits
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

