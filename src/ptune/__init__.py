"""ptune: P-Tuning for encoder transformers."""
__version__ = "0.1.0"

from ptune.config import PTuningConfig, TrainConfig  # noqa: E402
from ptune.encoders import EmbeddingEncoderConfig, LSTMEncoderConfig, MLPEncoderConfig  # noqa: E402
from ptune.inference import Predictor  # noqa: E402
from ptune.model import PTuningModel  # noqa: E402
from ptune.training.run import DataConfig, RunConfig, train  # noqa: E402

__all__ = [
    "PTuningConfig", "TrainConfig", "DataConfig", "RunConfig", "MLPEncoderConfig", "LSTMEncoderConfig",
    "EmbeddingEncoderConfig", "PTuningModel", "Predictor", "train",
]
