"""ptune: P-Tuning for encoder transformers.

The public names load on first use, so `ptune --help` and `import ptune` stay fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.4.0"

_EXPORTS = {
    "PTuningConfig": "ptune.config", "TrainConfig": "ptune.config",
    "MLPEncoderConfig": "ptune.encoders", "LSTMEncoderConfig": "ptune.encoders", "EmbeddingEncoderConfig": "ptune.encoders",
    "ClassificationConfig": "ptune.tasks", "TokenClassificationConfig": "ptune.tasks",
    "PTuningModel": "ptune.engine.model", "TaskAdapter": "ptune.engine.adapter", "PromptedBackbone": "ptune.engine.prompted",
    "Predictor": "ptune.inference.predictor", "DataConfig": "ptune.training.configs", "RunConfig": "ptune.training.configs",
    "train": "ptune.training.run",
    "AdapterBank": "ptune.engine.bank", "MultiTaskConfig": "ptune.training.configs", "TaskSpec": "ptune.training.configs",
    "train_multitask": "ptune.training.multitask", "ServeConfig": "ptune.serve.config",
    "Engine": "ptune.engine.core", "resolve": "ptune.settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ptune' has no attribute {name!r}")
