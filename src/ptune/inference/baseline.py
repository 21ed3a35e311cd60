"""The "what does the prompt add" reference: the same frozen backbone, no virtual tokens, a
logistic-regression head fitted to convergence on pooled features (scikit-learn)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ptune.data import Example, LabelSet, collate, inference_batches, tokenize
from ptune.engine.core import Engine
from ptune.tasks.heads import pool
from ptune.tasks.metrics import classification_metrics


@torch.inference_mode()
def pooled_features(backbone, tokenizer, examples: list[Example], *, pooling: str, max_length: int,
                    batch_size: int = 64) -> np.ndarray:
    features = tokenize(examples, tokenizer=tokenizer, max_length=max_length, labels=None)
    out = np.zeros((len(features), backbone.config.hidden_size), dtype=np.float32)
    engine = Engine(backbone)
    engine.eval()
    for indices in inference_batches([len(f["input_ids"]) for f in features], batch_size=batch_size):
        batch = collate([features[i] for i in indices], pad_token_id=tokenizer.pad_token_id)
        states = engine.states(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).states
        if pooling == "text_mean":
            pooling = "mean"  # no virtual tokens here: the mean over the text is the mean
        out[indices] = pool(states, batch["attention_mask"], pooling=pooling, cls_index=0).float().numpy()
    return out


def linear_probe_metrics(backbone, tokenizer, *, train: list[Example], evaluate: list[Example], labels: LabelSet,
                         pooling: str, max_length: int) -> dict:
    """Dev metrics of a converged linear head on frozen, prompt-free features."""
    x_train = pooled_features(backbone, tokenizer, train, pooling=pooling, max_length=max_length)
    x_eval = pooled_features(backbone, tokenizer, evaluate, pooling=pooling, max_length=max_length)
    y_train = np.array([labels.id(e.label) for e in train])
    y_eval = np.array([labels.id(e.label) for e in evaluate])
    classifier = LogisticRegression(max_iter=2000, C=1.0).fit(x_train, y_train)
    metrics = classification_metrics(labels=y_eval, predictions=classifier.predict(x_eval), label_names=list(labels.names))
    metrics["train_examples"] = len(train)
    return metrics
