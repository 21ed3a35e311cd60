"""The ONNX engine: `Engine.run_groups`'s forward, run by ONNX Runtime from one backbone graph.

    rows' adapters -> each injection's prompt tables stacked per row (shorter ones padded and
    masked, rows without that injection masked) -> one graph call per group of rows that can
    share one (the same grouping as the PyTorch engine) -> each row's states to its adapter's head
    graph.

Free of torch: numpy, ONNX Runtime and the export folders (`ptune.inference.graph_export` writes
them). An adapter here is its folded prompt table and its head graph; the backbone graph takes
every injection's rows as inputs, so adapters of any task and injection share one call.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ptune.engine.groups import group_rows
from ptune.errors import ArtifactError, PtuneError
from ptune.tasks import TASKS
from ptune.format.exported import (
    ADAPTER_PROMPT_FILE,
    HEAD_FILE,
    INPUTS,
    graph_file,
    read_export_config,
    read_graph_config,
)


def onnxruntime():
    from ptune.extras import install_hint, missing

    if "onnxruntime" in missing("serve-onnx"):
        raise PtuneError(f"running an ONNX export needs onnxruntime: {install_hint('serve-onnx')}")
    import onnxruntime as ort

    return ort


def open_session(path: Path, *, threads: int | None = None):
    """An ONNX Runtime session on the CPU with its graph optimisations, or an ArtifactError that
    says the file is damaged. Its threads do not spin between runs: a server runs the backbone's
    session and the heads' in turn, and spinning threads of one would slow the next (measured)."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own error types: a truncated or foreign graph
        raise ArtifactError(f"{path}: damaged, ONNX Runtime cannot load it "
                            f"({str(err).strip().splitlines()[0][:200]}); export the adapter again") from None


@dataclass(frozen=True)
class OnnxSettings:
    """What the bank and the tasks read of an adapter's settings (an adapter folder's PTuningConfig)."""

    injection: str
    placement: str
    num_virtual_tokens: int
    task: object = None
    """The task's config (TaskConfig), read by its features and decoding."""


@dataclass(eq=False)
class OnnxAdapter:
    """One exported adapter: its folded prompt table, its head graph, and its export settings."""

    folder: Path
    export: dict
    table: np.ndarray
    head_path: Path
    graph_folder: Path
    config: OnnxSettings
    _head: object = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, folder: str | Path) -> "OnnxAdapter":
        folder = Path(folder)
        export = read_shared_export(folder)
        try:
            table = np.load(folder / ADAPTER_PROMPT_FILE, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ArtifactError(f"{folder / ADAPTER_PROMPT_FILE}: damaged ({err}); export the adapter again") from None
        if table.ndim != 2 or table.dtype != np.float32 or not np.isfinite(table).all():
            raise ArtifactError(f"{folder / ADAPTER_PROMPT_FILE}: expected a finite float32 (rows, width) table, found "
                                f"{table.dtype} {table.shape}; export the adapter again")
        graph = (folder / str(export.get("backbone_graph", ""))).resolve()
        ptuning = export.get("ptuning", {})
        settings = OnnxSettings(injection=str(export["injection"]), placement=str(export["placement"]),
                                num_virtual_tokens=int(ptuning.get("num_virtual_tokens", table.shape[0])))
        return cls(folder=folder, export=export, table=table, head_path=folder / HEAD_FILE, graph_folder=graph,
                   config=settings)

    @property
    def forward_key(self) -> str | None:
        return self.export.get("forward_key")

    @property
    def layer(self) -> int:
        """Index into the graph's stacked states: the layer the head reads (-1: the last)."""
        layer = self.export.get("layer")
        return -1 if layer is None else int(layer)

    @property
    def num_virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    @property
    def task(self):
        from ptune.tasks import get_task

        return get_task(self.export["task"])

    def head(self, threads: int | None = None):
        with self._lock:  # one session per adapter, opened on its first batch (or by `warm`)
            if self._head is None:
                self._head = open_session(self.head_path, threads=1)  # a head is one small matmul
            return self._head


def read_shared_export(folder: Path) -> dict:
    """An export made with --backbone-graph, or an ArtifactError saying what the folder is instead
    and the command that makes one."""
    from ptune.format.exported import is_export
    from ptune.format.files import ADAPTER_CONFIG_FILE

    make = "ptune export --adapter ADAPTER --output EXPORT --backbone-graph GRAPH_DIR"
    if not is_export(folder):
        if (folder / ADAPTER_CONFIG_FILE).is_file():
            raise ArtifactError(f"{folder}: an adapter folder, not an export: serve it with the PyTorch runtime "
                                f"(no --runtime onnx), or export it first: {make.replace('ADAPTER', str(folder))}")
        raise ArtifactError(f"{folder}: not an export (no ptune_export.json); make one with {make}")
    export = read_export_config(folder, tasks=TASKS)
    if export.get("layout") != "shared":
        raise ArtifactError(f"{folder}: a folded export (one model.onnx); the ONNX runtime serves exports that share "
                            f"a backbone graph: {make}")
    return export


def stack_prompts(tables: list[np.ndarray | None], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its adapter's (k, width) table or None -> (rows, K, width) float32 padded to the
    longest K (at least 1) and the (rows, K) int64 mask of real positions."""
    longest = max([t.shape[0] for t in tables if t is not None], default=1)
    rows = np.zeros((len(tables), longest, width), dtype=np.float32)
    mask = np.zeros((len(tables), longest), dtype=np.int64)
    for i, table in enumerate(tables):
        if table is not None:
            rows[i, : table.shape[0]], mask[i, : table.shape[0]] = table, 1
    return rows, mask


def quantized(path: Path) -> Path:
    """The int8 copy of a backbone graph (ONNX Runtime's dynamic quantisation: int8 weights per
    output channel, the activations quantised per batch), made once beside it and reused. Its
    agreement with fp32 and its dev scores are in BENCHMARKS.md."""
    target = path.with_name(path.stem + ".int8.onnx")
    if target.is_file():
        return target
    from ptune.extras import install_hint, missing
    from ptune.format.files import atomic_write
    from ptune.format.lock import output_lock

    if missing("onnx"):
        raise PtuneError(f"{target} does not exist yet, and making it needs the onnx package: {install_hint('onnx')} "
                         "(once, on any machine that can write the graph folder)")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    def write(temp: Path) -> None:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process the graph, printed on every call
        try:
            quantize_dynamic(str(path), str(temp), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)

    with output_lock(target, folder=False, command="quantize"):
        if not target.is_file():
            atomic_write(target, write)
    return target


class OnnxEngine:
    """A backbone graph folder run by ONNX Runtime, for adapters exported against it.
    `precision`: fp32, or int8 (the graph's dynamically quantised copy)."""

    def __init__(self, graph_folder: str | Path, *, threads: int | None = None, precision: str = "fp32"):
        self.folder = Path(graph_folder)
        self.settings = read_graph_config(self.folder)
        self.threads, self.precision = threads, precision
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return self.settings["backbone"]["fingerprint"]

    def use_threads(self, threads: int | None) -> None:
        """Run with `threads` from now on: sessions already open are reopened on their next batch."""
        with self._lock:
            self.threads = threads
            self._sessions.clear()

    def session(self, placement: str):
        with self._lock:
            if placement not in self._sessions:
                if placement not in self.settings["placements"]:
                    raise PtuneError(f"{self.folder}: has no graph for input prompts placed {placement!r}; export an "
                                     "adapter with that placement against it first")
                path = self.folder / graph_file(placement)
                if self.precision == "int8":
                    path = quantized(path)
                self._sessions[placement] = open_session(path, threads=self.threads)
            return self._sessions[placement]

    def check(self, adapter: OnnxAdapter) -> None:
        """Refuse an adapter exported against other weights, or needing a graph this folder lacks."""
        recorded = adapter.export.get("backbone", {}).get("fingerprint")
        if recorded != self.fingerprint:
            raise ArtifactError(f"{adapter.folder}: exported for other backbone weights than {self.folder} holds; "
                                "export it with --backbone-graph pointing at this folder")
        width = self.settings["injections"].get(adapter.config.injection)
        if width != adapter.table.shape[1]:
            raise ArtifactError(f"{adapter.folder}: its {adapter.config.injection} prompt rows are {adapter.table.shape[1]} "
                                f"wide, the graph in {self.folder} takes {width}; export the adapter again")
        self.session(adapter.config.placement)
        adapter.head(self.threads)

    def mixed_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None,
                     adapters: list[OnnxAdapter]) -> list[np.ndarray]:
        """Row i through `adapters[i]`: one float32 logits array per row, (labels,) or (seq, labels)."""
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        out: list[np.ndarray | None] = [None] * len(adapters)
        for group in group_rows([a.forward_key for a in adapters]):
            members = [adapters[i] for i in group]
            whole = len(group) == len(adapters)
            pick = (lambda a: a) if whole else (lambda a: a[group])  # noqa: E731
            placement = next((a.config.placement for a in members if a.forward_key is not None), "after_cls")
            feeds = {"input_ids": pick(input_ids), "attention_mask": pick(attention_mask),
                     "token_type_ids": pick(token_type_ids)}
            for name, width in self.settings["injections"].items():
                tables = [a.table if a.config.injection == name else None for a in members]
                feeds[f"{name}_rows"], feeds[f"{name}_mask"] = stack_prompts(tables, width)
            states, mask = self.session(placement).run(None, feeds)
            length = input_ids.shape[1]
            inserted = mask.shape[1] - length  # input-level positions the graph added
            text_index = (np.concatenate([[0], np.arange(inserted + 1, inserted + length)]) if placement == "after_cls"
                          else np.arange(inserted, inserted + length)).astype(np.int64)
            by_adapter: dict[int, list[int]] = {}
            for position, adapter in enumerate(members):
                by_adapter.setdefault(id(adapter), []).append(position)
            for positions in by_adapter.values():
                adapter = members[positions[0]]
                every = len(positions) == len(members)
                head_feeds = {"states": states[adapter.layer] if every else states[adapter.layer][positions],
                              "mask": mask if every else mask[positions], "text_index": text_index,
                              "input_ids": feeds["input_ids"] if every else feeds["input_ids"][positions]}
                session = adapter.head(self.threads)
                wanted = {i.name for i in session.get_inputs()}
                logits = session.run(None, {k: v for k, v in head_feeds.items() if k in wanted})[0]
                for position, row_logits in zip(positions, logits):
                    out[group[position]] = row_logits
        return out


def pad_features(features: list[dict], *, pad_token_id: int) -> dict[str, np.ndarray]:
    """The model inputs of `features`, padded on the right to the longest (numpy, int64)."""
    longest = max(len(f["input_ids"]) for f in features)
    batch = {name: np.zeros((len(features), longest), dtype=np.int64) for name in INPUTS}
    batch["input_ids"].fill(pad_token_id)
    for row, feature in enumerate(features):
        n = len(feature["input_ids"])
        batch["input_ids"][row, :n] = feature["input_ids"]
        batch["attention_mask"][row, :n] = 1
        if "token_type_ids" in feature:
            batch["token_type_ids"][row, :n] = feature["token_type_ids"]
    return batch

