"""A bank of exported adapters run by ONNX Runtime: `ptune serve --runtime onnx`, and `ptune predict`
/ `ptune eval` on an export made with `--backbone-graph`.

The same bank as the PyTorch one (ptune.engine.entries: names, features, mixed-task forwards of
similar length, decoding); only loading an adapter and running rows differ. Every adapter must
have been exported against a graph of the same backbone weights; the graph folder of the first
one is the bank's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ptune.engine.entries import BankBase, BankEntry
from ptune.errors import ConfigError, PtuneError
from ptune.format.exported import EXPORT_FILE
from ptune.inference.fast_tokenizer import FastTokenizer
from ptune.inference.onnx_engine import OnnxAdapter, OnnxEngine, pad_features, read_shared_export

log = logging.getLogger("ptune.serve")
ONNX_PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class HostDevice:
    """Where an ONNX bank runs: this machine's CPU (what the server sizes its batches for)."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


def graph_of(export: str | Path) -> Path:
    """The backbone graph folder an adapter export names."""
    folder = Path(export)
    config = read_shared_export(folder)
    return (folder / str(config["backbone_graph"])).resolve()


class OnnxBank(BankBase):
    runtime = "onnx"
    marker = EXPORT_FILE
    """The file that makes a subfolder of --adapter-dir an adapter this bank loads."""

    def __init__(self, graph_folder: str | Path, *, precision: str = "fp32", threads: int | None = None):
        if precision == "auto":
            precision = "fp32"
        if precision not in ONNX_PRECISIONS:
            raise ConfigError("OnnxBank", [f"precision={precision!r}: the ONNX runtime runs {list(ONNX_PRECISIONS)}"])
        self.engine = OnnxEngine(graph_folder, threads=threads, precision=precision)
        backbone = self.engine.settings["backbone"]
        tokenizer = FastTokenizer(self.engine.folder, model_input_names=self.engine.settings.get("model_input_names"))
        super().__init__(tokenizer, backbone_name=backbone.get("name"),
                         fingerprint=self.engine.fingerprint)
        self.precision = precision

    device = HostDevice()
    bf16 = False

    @classmethod
    def from_exports(cls, exports: dict[str, str | Path], *, precision: str = "fp32",
                     threads: int | None = None) -> "OnnxBank":
        """A bank holding `{name: export folder}`, on the graph folder the first names."""
        if not exports:
            raise ConfigError("OnnxBank", ["no exports given; pass at least one name=DIR"])
        bank = cls(graph_of(next(iter(exports.values()))), precision=precision, threads=threads)
        for name, path in exports.items():
            bank.add(name, path)
        return bank

    @classmethod
    def for_graph(cls, graph_folder: str | Path | None, *, example_export: Path | None = None,
                  precision: str = "fp32", threads: int | None = None) -> "OnnxBank":
        """An empty bank on `graph_folder`, or on the graph `example_export` names."""
        if graph_folder is None and example_export is None:
            raise ConfigError("OnnxBank", ["no export to take the backbone graph from: pass --model GRAPH_DIR (a folder "
                                           "`ptune export --backbone-graph` wrote), or put an export in --adapter-dir"])
        return cls(graph_folder or graph_of(example_export), precision=precision, threads=threads)

    def load_entry(self, name: str, path: str | Path) -> BankEntry:
        from ptune.tasks.base import task_config_from_dict

        adapter = OnnxAdapter.load(path)
        self.engine.check(adapter)
        export = adapter.export
        task_config = task_config_from_dict(export["ptuning"]["task"])
        adapter.config = replace(adapter.config, task=task_config)
        recorded = {**export, "inputs": export.get("recorded_inputs")}
        return BankEntry(name=name, adapter=adapter, label_names=list(export["label_names"]), config=recorded,
                         path=Path(path), max_length=int(export["max_text_length"]))

    def run(self, rows: list[tuple[BankEntry, dict]]) -> list:
        batch = pad_features([f for _, f in rows], pad_token_id=self.engine.settings["pad_token_id"])
        logits = self.engine.mixed_logits(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                                          [entry.adapter for entry, _ in rows])
        return [row[: len(f["input_ids"])] if row.ndim == 2 else row for row, (_, f) in zip(logits, rows)]


class ExportPredictor:
    """`ptune predict` / `ptune eval` on an export made with --backbone-graph, any task: a bank of
    this one adapter, so its answers are the server's."""

    NAME = "export"

    def __init__(self, folder: str | Path, *, batch_size: int = 64, precision: str = "fp32"):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PtuneError(f"invalid ExportPredictor: batch_size={batch_size}: expected >= 1")
        self.batch_size = batch_size
        self.bank = OnnxBank(graph_of(folder), precision=precision)
        self.entry = self.bank.add(self.NAME, folder)
        self.adapter_config = self.entry.adapter.export
        self.task, self.label_names = self.entry.task, self.entry.label_names

    @property
    def config(self) -> dict:
        return self.adapter_config

    def features(self, examples: list, *, labels=None) -> list[dict]:
        with self.bank._tokenizer_lock:
            return self.task.features(examples, tokenizer=self.bank.tokenizer, max_length=self.entry.max_length,
                                      labels=labels, config=self.entry.adapter.config.task)

    def outputs(self, features: list[dict]) -> list:
        """One logits tensor per feature, in order (forwards of similar lengths, as the server runs them)."""
        rows = [(self.entry, feature) for feature in features]
        out = []
        for start in range(0, len(rows), self.batch_size):
            out += self.bank.run_by_length(rows[start:start + self.batch_size])
        return out

    def predict(self, inputs: list) -> list[dict]:
        if isinstance(inputs, (str, dict)):
            raise PtuneError("predict() takes a list of inputs; wrap a single one in a list")
        return self.bank.predict([(self.NAME, item) for item in inputs], batch_size=self.batch_size)

