"""Using a trained adapter: `Predictor` (predict), `evaluate_adapter` (ptune eval) and the
prompt-free linear probe that `--compare-base` fits beside it."""
from ptune.inference.predictor import Predictor

__all__ = ["Predictor"]
