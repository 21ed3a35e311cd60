"""`ptune eval`: an adapter's metrics on labelled data, optionally beside the prompt-free base."""
from __future__ import annotations

import numpy as np

from ptune.data import LabelSet, LoadReport, load_examples
from ptune.errors import DataError
from ptune.inference import Predictor
from ptune.training.metrics import classification_metrics


def evaluate_adapter(adapter, *, data: str, split: str = "dev", model_name: str | None = None,
                     allow_backbone_mismatch: bool = False, compare_base: bool = False,
                     train_data: str | None = None, base_train_samples: int = 4000,
                     batch_size: int = 64, precision: str = "fp32", quantize: str | None = None,
                     compile: bool = False) -> dict:
    predictor = Predictor(adapter, model_name=model_name, batch_size=batch_size,
                          allow_backbone_mismatch=allow_backbone_mismatch, precision=precision,
                          quantize=quantize, compile=compile)
    labels = LabelSet(tuple(predictor.label_names))
    examples = load_examples(data, split=split)
    unknown = sorted({e.label for e in examples} - set(labels.names))
    if unknown:
        raise DataError(f"{data}: label(s) {unknown} are not among the adapter's labels {list(labels.names)}")
    logits = predictor.logits(examples)
    truth = np.array([labels.id(e.label) for e in examples])
    result = {"adapter": str(adapter), "data": str(data), "split": split, "label_names": list(labels.names),
              "metrics": classification_metrics(labels=truth, predictions=logits.argmax(-1).numpy(),
                                                label_names=list(labels.names))}
    if compare_base:
        result["base"] = base_metrics(predictor, labels=labels, data=train_data or data, evaluate=examples,
                                      limit=base_train_samples)
    return result


def base_metrics(predictor: Predictor, *, labels: LabelSet, data: str, evaluate, limit: int) -> dict:
    from ptune.baseline import linear_probe_metrics

    train = load_examples(data, split="train", report=LoadReport())[:limit]
    return linear_probe_metrics(predictor.model.backbone, predictor.tokenizer, train=train, evaluate=evaluate,
                                labels=labels, pooling=predictor.model.config.pooling,
                                max_length=predictor.model.config.max_length)
