"""Which examples go in which batch, and in what order.

Training: length-grouped batches in a shuffled order. Examples are shuffled, cut into windows of
`batch_size * window_batches`, sorted by length inside each window, cut into batches, and the
batches shuffled again; every example appears exactly once per epoch and padding nearly vanishes.
Scoring (eval, predict, serving): one planner, `inference_batches`, for every forward that trains
nothing; callers put results back in input order.
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


def inference_batches(lengths: list[int], *, batch_size: int | None = None,
                      max_padding: float | None = None) -> list[list[int]]:
    """Index batches for every scoring forward (eval, Predictor, the bank, the server): examples
    sorted by length, longest first (memory peaks early), cut into batches of at most `batch_size`
    rows and, with `max_padding`, of rows whose longest is at most (1 + max_padding) times their
    shortest: on a CPU a forward costs about rows x longest length, so short rows are not padded to
    long ones. Callers put results back in input order."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: expected >= 1 or None")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        full = batches and batch_size is not None and len(batches[-1]) == batch_size
        too_short = batches and max_padding is not None and lengths[batches[-1][0]] > (1 + max_padding) * lengths[i]
        if not batches or full or too_short:
            batches.append([])
        batches[-1].append(i)
    return batches


def shard(batches: list[list[int]], *, rank: int, world_size: int) -> list[list[int]]:
    """Every process takes every world_size-th batch; the tail that would leave a process idle is
    dropped so all processes step together (at most world_size - 1 batches per epoch)."""
    usable = len(batches) - len(batches) % world_size if world_size > 1 else len(batches)
    return batches[rank:usable:world_size]
