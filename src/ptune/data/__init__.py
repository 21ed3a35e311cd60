"""Examples, the readers of data files, and batching. Names load on first use, so reading a file
(as `ptune predict --file` does) does not import torch."""
import importlib

_EXPORTS = {
    "Example": "ptune.data.examples", "LabelSet": "ptune.data.examples",
    "LoadReport": "ptune.data.sources", "load_examples": "ptune.data.sources",
    "tokenize": "ptune.data.transforms", "collate": "ptune.data.transforms",
    "training_batches": "ptune.data.batching", "inference_batches": "ptune.data.batching", "shard": "ptune.data.batching",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ptune.data' has no attribute {name!r}")
