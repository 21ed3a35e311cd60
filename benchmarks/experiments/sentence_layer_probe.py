"""Which layer of the frozen backbone a sentence classifier should read: a logistic probe on each
layer's mean-pooled states (and the [CLS] row), the fewshot draw at K per class, seeds 0-2, scored
on the last 1,000 rows of the training file (never dev or test). Asked before trying the layer
choice (`choose_layer`, the NER recipe's) on sentence tasks.
  python benchmarks/experiments/sentence_layer_probe.py trec 16"""
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

from ptune.engine.backbone import load_backbone
from ptune.lab.compare.protocol import ProtocolConfig

torch.set_num_threads(1)
name, k = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 16
backbone, tokenizer = load_backbone(None)
backbone.eval()


@torch.no_grad()
def pooled(examples):
    """(layers + 1, rows, 2 * hidden): each layer's mean over the text and its [CLS] row."""
    out = []
    for start in range(0, len(examples), 64):
        chunk = examples[start:start + 64]
        texts = [e.text for e in chunk]
        pairs = [e.text_pair for e in chunk] if chunk[0].text_pair is not None else None
        batch = tokenizer(texts, pairs, truncation=True, max_length=128, padding=True, return_tensors="pt")
        hidden = torch.stack(backbone(**batch, output_hidden_states=True).hidden_states)  # (L+1, B, T, H)
        mask = batch["attention_mask"][None, :, :, None].float()
        mean = (hidden * mask).sum(2) / mask.sum(2)
        out.append(torch.cat([mean, hidden[:, :, 0]], dim=-1))
    return torch.cat(out, dim=1).numpy()


for seed in (0, 1, 2):
    protocol = ProtocolConfig(data=f"../shared/data/{name}", train_size=k, per_class=True, validation_from_train=1000)
    train, held, labels = protocol.examples(seed)
    y_train = np.array([labels.names.index(e.label) for e in train])
    y_held = np.array([labels.names.index(e.label) for e in held])
    x_train, x_held = pooled(train), pooled(held)
    hidden = x_train.shape[-1] // 2
    scores = {}
    for layer in range(1, x_train.shape[0]):
        for kind, cols in (("mean", slice(0, hidden)), ("cls", slice(hidden, None))):
            scaler = StandardScaler().fit(x_train[layer][:, cols])
            probe = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0], cv=min(4, k), max_iter=3000).fit(
                scaler.transform(x_train[layer][:, cols]), y_train)
            scores[f"{kind}{layer}"] = probe.score(scaler.transform(x_held[layer][:, cols]), y_held)
    print(name, f"K={k}", f"seed={seed}", " ".join(f"{key}:{value:.3f}" for key, value in scores.items()), flush=True)
