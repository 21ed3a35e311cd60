"""ptune: P-Tuning for encoder transformers."""
__version__ = "0.1.0"
