"""Which examples go in which batch, and in what order.

Training: length-grouped batches in a shuffled order. Examples are shuffled, cut into windows of
`batch_size * window_batches`, sorted by length inside each window, cut into batches, and the
batches shuffled again; every example appears exactly once per epoch and padding nearly vanishes.
Eval/predict: batches of length-sorted examples; callers put results back in input order.
"""
from __future__ import annotations

import random


def training_batches(
    lengths: list[int], *, batch_size: int, seed: int, epoch: int, group_by_length: bool, window_batches: int = 50
) -> list[list[int]]:
    """Index batches for one epoch; a pure function of (lengths, batch_size, seed, epoch)."""
    order = list(range(len(lengths)))
    rng = random.Random(f"{seed}:{epoch}")
    rng.shuffle(order)
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * window_batches
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], *, batch_size: int) -> list[list[int]]:
    """Index batches of length-sorted examples (longest first, so memory peaks early)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def shard(batches: list[list[int]], *, rank: int, world_size: int) -> list[list[int]]:
    """Every process takes every world_size-th batch; the tail that would leave a process idle is
    dropped so all processes step together (at most world_size - 1 batches per epoch)."""
    usable = len(batches) - len(batches) % world_size if world_size > 1 else len(batches)
    return batches[rank:usable:world_size]
