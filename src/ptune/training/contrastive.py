"""The pair objective for sentence classification, with the backbone frozen (SetFit's idea, with a
body that stays shared).

SetFit fine-tunes the whole sentence encoder so that the cosine similarity of two training
sentences' pooled embeddings is 1 when they share a label and 0 when they do not, then fits a
logistic regression on the embeddings. Here only the prompt learns that objective, on the state
the classification head reads (the mean-pooled layer of `TaskConfig.layer`), for
`TrainConfig.contrastive_steps` steps of `batch_size` pairs, half of them same-label, before the
head is fitted or trained. Pairs are drawn anew every step (seeded), so the step count, not the
number of rows, sets the cost.
"""
from __future__ import annotations

import random
import time
from contextlib import nullcontext

import torch
from torch import nn

from ptune.errors import ConfigError


def draw_pairs(labels: list[int], *, count: int, rng: random.Random) -> list[tuple[int, int, float]]:
    """`count` (row, row, target) pairs: about half of them two different rows of one label (target
    1), the rest two rows of different labels (target 0). A label with a single row pairs with
    itself only when no label has two rows."""
    by_label: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        by_label.setdefault(label, []).append(row)
    if len(by_label) < 2:
        raise ConfigError("contrastive_steps", ["the pair objective needs rows of at least two labels; "
                                                "these training rows have one: leave contrastive_steps at 0"])
    repeated = [label for label, rows in by_label.items() if len(rows) > 1]
    pairs = []
    for i in range(count):
        if i % 2 == 0:  # same label
            label = rng.choice(repeated) if repeated else rng.choice(list(by_label))
            rows = by_label[label]
            first, second = rng.sample(rows, 2) if len(rows) > 1 else (rows[0], rows[0])
            pairs.append((first, second, 1.0))
        else:
            one, other = rng.sample(list(by_label), 2)
            pairs.append((rng.choice(by_label[one]), rng.choice(by_label[other]), 0.0))
    return pairs


def pooled(model, batch: dict) -> torch.Tensor:
    """(batch, hidden): what the classification head reads, with gradients (captured at its input,
    before the head's dropout)."""
    captured = []
    hook = model.head.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
              token_type_ids=batch.get("token_type_ids"))
    finally:
        hook.remove()
    return captured[0].float()


def check_contrastive(model) -> None:
    if model.task.name != "classification" or not hasattr(model.head, "out"):
        raise ConfigError("contrastive_steps", [
            f"the pair objective trains what a linear classification head reads; this run's task is "
            f"{model.task.name!r}{'' if hasattr(model.head, 'out') else ' with a cloze head'}: "
            "leave contrastive_steps at 0"])


def train_pairs(model, features: list[dict], *, steps: int, batch_size: int, lr: float, seed: int,
                pad_token_id: int, max_grad_norm: float = 1.0, autocast=None) -> dict:
    """Trains the prompt (not the head) `steps` steps on the pair objective (module docstring) and
    returns a record: steps, pairs per step, the mean loss of the first and last tenth, seconds."""
    check_contrastive(model)
    started = time.perf_counter()
    labels = [int(f["label"]) for f in features]
    rng = random.Random(f"pairs:{seed}")
    parameters = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    device = next(model.head.parameters()).device
    was_training = model.training
    model.train()
    losses = []
    try:
        for _ in range(steps):
            pairs = draw_pairs(labels, count=batch_size, rng=rng)
            rows = sorted({row for first, second, _ in pairs for row in (first, second)})
            where = {row: i for i, row in enumerate(rows)}
            batch = model.task.collate([features[r] for r in rows], pad_token_id=pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items() if v is not None}
            with autocast() if autocast is not None else nullcontext():
                states = pooled(model, batch)
            first = states[[where[a] for a, _, _ in pairs]]
            second = states[[where[b] for _, b, _ in pairs]]
            target = torch.tensor([t for _, _, t in pairs], device=states.device)
            loss = nn.functional.mse_loss(nn.functional.cosine_similarity(first, second), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        model.train(was_training)
        for parameter in model.parameters():  # the head's gradients too: the run's optimizer starts clean
            parameter.grad = None
    tenth = max(1, len(losses) // 10)
    return {"steps": steps, "pairs_per_step": batch_size, "lr": lr,
            "loss_first": sum(losses[:tenth]) / tenth, "loss_last": sum(losses[-tenth:]) / tenth,
            "seconds": time.perf_counter() - started}


__all__ = ["check_contrastive", "draw_pairs", "train_pairs"]
