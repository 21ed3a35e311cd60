"""Which layers of the frozen backbone hold the entity information: a logistic probe per layer
choice on CoNLL-2003 (50 training sentences of seed 0's draw, scored on the last 500 training rows,
never dev), entity F1 with seqeval. A question for the token head, answered before building it."""
import random
import sys

import numpy as np
import torch
from seqeval.metrics import f1_score
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ptune.data import LoadReport
from ptune.engine.backbone import load_backbone
from ptune.tasks import get_task

torch.set_num_threads(2)
size = int(sys.argv[1]) if len(sys.argv) > 1 else 50
task = get_task("token_classification")
rows = task.read("../shared/data/conll2003", split="train", report=LoadReport())
held, pool = rows[-500:], rows[:-500]
order = list(range(len(pool)))
random.Random(0).shuffle(order)
train = [pool[i] for i in order[:size]]
labels = task.label_set(train + held)
backbone, tokenizer = load_backbone(None)
settings = task.adapt_config(task.config_cls(), train)


def states(examples):
    features = task.features(examples, tokenizer=tokenizer, max_length=128, labels=labels, config=settings)
    out = []
    with torch.no_grad():
        for f in features:
            ids = torch.tensor([f["input_ids"]])
            hidden = backbone(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True).hidden_states
            out.append((torch.stack(hidden)[:, 0], f))  # (layers + 1, seq, hidden)
    return out


def gather(items, pick):
    xs, ys = [], []
    for hidden, f in items:
        for position, label in enumerate(f["labels"]):
            if label != -100:
                xs.append(pick(hidden)[position].numpy())
                ys.append(label)
    return np.array(xs), np.array(ys)


def entity_f1(items, pick, model, scaler):
    gold, predicted = [], []
    for hidden, f in items:
        x = scaler.transform(pick(hidden).numpy())
        best = model.predict(x)
        gold.append(f["tags"])
        predicted.append([labels.names[best[p]] if p >= 0 else "O" for p in f["first_piece"]])
    return f1_score(gold, predicted)


train_states, held_states = states(train), states(held)
choices = {f"layer {i}": (lambda h, i=i: h[i]) for i in range(7)}
choices["mean of layers 1-6"] = lambda h: h[1:].mean(0)
choices["concat 2,4,6"] = lambda h: torch.cat([h[2], h[4], h[6]], -1)
for name, pick in choices.items():
    x, y = gather(train_states, pick)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=0.1, max_iter=3000).fit(scaler.transform(x), y)
    print(f"n={size}  {name:20s} entity F1 {100 * entity_f1(held_states, pick, model, scaler):.1f}", flush=True)
