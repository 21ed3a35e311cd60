"""Using a trained adapter: `Predictor` (predict), `OnnxPredictor` (an exported adapter, without
torch), `evaluate_adapter` (ptune eval) and the prompt-free linear probe that `--compare-base`
fits beside it. Names load on first use."""
import importlib

_EXPORTS = {"Predictor": "ptune.inference.predictor", "OnnxPredictor": "ptune.inference.onnx_predictor"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ptune.inference' has no attribute {name!r}")
