"""Predictions from an exported adapter (`ptune export`) with ONNX Runtime and the `tokenizers`
library alone: no torch, no transformers, so a one-off `ptune predict` starts in about a second
instead of paying torch's and transformers' imports. The graph is the engine's forward with the
prompt folded in, checked against PyTorch when it was exported; the answers are the Predictor's.
"""
from __future__ import annotations

import json
from pathlib import Path

from ptune.errors import ArtifactError, PtuneError
from ptune.tasks import TASKS
from ptune.extras import require
from ptune.format.exported import MODEL_FILE, read_export_config

ONNX_TASKS = ("classification",)
"""Tasks decoded here; the others' decoders (entity spans, answer spans) live with torch."""


class OnnxPredictor:
    def __init__(self, folder: str | Path, *, batch_size: int = 64):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PtuneError(f"invalid OnnxPredictor: batch_size={batch_size}: expected >= 1")
        self.folder, self.batch_size = Path(folder), batch_size
        self.config = read_export_config(self.folder, tasks=TASKS)
        if self.config["task"] not in ONNX_TASKS:
            raise PtuneError(f"{folder}: an exported {self.config['task']} adapter; ONNX prediction decodes "
                             f"{list(ONNX_TASKS)} only: predict with the adapter folder it was exported from")
        require("onnx", "predicting with an exported adapter")
        import onnxruntime
        from tokenizers import Tokenizer

        self.label_names = list(self.config["label_names"])
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(self.config["max_text_length"]))
        self.tokenizer.no_padding()  # batches are padded here, after sorting by length
        self.pad_id = self.tokenizer.token_to_id(self.pad_token())
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(self.folder / MODEL_FILE), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own error types: a truncated or foreign model.onnx
            raise ArtifactError(f"{self.folder / MODEL_FILE}: damaged, ONNX Runtime cannot load it "
                                f"({str(err).strip().splitlines()[0][:200]}); export the adapter again") from None

    def pad_token(self) -> str:
        try:
            settings = json.loads((self.folder / "tokenizer_config.json").read_text())
        except (OSError, json.JSONDecodeError):
            settings = {}
        pad = settings.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        return pad or "[PAD]"

    def logits(self, inputs: list):
        """(inputs, labels) float64 logits, in input order. Inputs are batched by length, as the
        Predictor batches them, so a batch is padded to its own longest input only."""
        import numpy as np

        if isinstance(inputs, str):
            raise PtuneError("predict() takes a list of texts; wrap a single text in a list")
        items = [item if isinstance(item, str) else (item.text, item.text_pair) if item.text_pair else item.text
                 for item in inputs]
        encodings = self.tokenizer.encode_batch(items) if items else []
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(encodings), len(self.label_names)))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            columns = {name: np.zeros((len(rows), width), dtype=np.int64) for name in
                       ("input_ids", "attention_mask", "token_type_ids")}
            columns["input_ids"].fill(self.pad_id)
            for row, i in enumerate(rows):
                found = encodings[i]
                size = len(found.ids)
                columns["input_ids"][row, :size] = found.ids
                columns["attention_mask"][row, :size] = found.attention_mask
                columns["token_type_ids"][row, :size] = found.type_ids
            feeds = {name: columns[name] for name in self.config["inputs"]}
            out[rows] = self.session.run(None, feeds)[0].astype(np.float64)
        return out

    def predict(self, inputs: list) -> list[dict]:
        """One {"label", "probabilities"} per input: a text, or an object with `text` and `text_pair`."""
        import numpy as np

        logits = self.logits(inputs)
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        results = []
        for row in probabilities.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            results.append({"label": self.label_names[best],
                            "probabilities": {name: round(p, 6) for name, p in zip(self.label_names, row)}})
        return results
