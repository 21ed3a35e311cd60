"""Batched forward passes over features: length-sorted batches, results back in input order."""
from __future__ import annotations

import torch
from accelerate.utils import gather_object

from ptune.data.batching import inference_batches
from ptune.data.transforms import collate
from ptune.engine.precision import (
    frozen_linear_parameters,
    frozen_parameters,
    stored_in,
)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Host -> device copies that overlap with compute on CUDA: pinned pages, non-blocking."""
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}


def default_collate(features: list[dict], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    return collate([{k: f[k] for k in MODEL_INPUTS if k in f} for f in features], pad_token_id=pad_token_id)


def predict_logits(model, features: list[dict], **kwargs) -> torch.Tensor:
    """(num_examples, num_labels) float32 logits of a classifier, in the order of `features`."""
    outputs = predict_outputs(model, features, **kwargs)
    return torch.stack(outputs) if outputs else torch.empty(0, 0)


@torch.inference_mode()
def predict_outputs(model, features: list[dict], *, batch_size: int, pad_token_id: int, accelerator=None,
                    device: torch.device | None = None, bf16: bool = False, sort_by_length: bool = True,
                    collate_fn=None) -> list[torch.Tensor]:
    """One float32 logits tensor per feature, in the order of `features`: (num_labels,) for a
    classifier, (tokens, num_labels) for a token classifier (padding cut off).

    With an accelerator, each process predicts a share and the shares are gathered; without one,
    everything runs here on `device`, in bf16 when `bf16`. Batches are length-sorted unless
    `sort_by_length=False`.
    """
    device = accelerator.device if accelerator else (device or torch.device("cpu"))
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    if sort_by_length:
        batches = inference_batches([len(f["input_ids"]) for f in features], batch_size=batch_size)
    else:  # the caller's order, as a pipeline without length sorting would batch it (benchmarks)
        batches = [list(range(i, min(i + batch_size, len(features)))) for i in range(0, len(features), batch_size)]
    mine = batches[rank::world]  # eval keeps every batch: uneven shards are fine without a backward pass
    pieces = []
    bf16 = accelerator.mixed_precision == "bf16" if accelerator else bf16
    if bf16 and getattr(model, "uses_prompt_table", False):
        # Serving a prompt table, nothing in the backbone trains: store all of it in bf16 and run
        # without autocast, which saves the per-layer activation casts (faster on CPU, measured
        # in BENCHMARKS.md); the head still computes in fp32.
        weights, autocast = stored_in(frozen_parameters(model.backbone), torch.bfloat16), torch.autocast(device.type, enabled=False)
    else:
        # One cast of the frozen Linear weights per call instead of one per batch (a no-op inside
        # fit, where they are stored in bf16 already).
        weights = stored_in(frozen_linear_parameters(model), torch.bfloat16 if bf16 else None)
        autocast = accelerator.autocast() if accelerator else torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with weights, autocast:
        for indices in mine:
            batch = to_device((collate_fn or default_collate)([features[i] for i in indices],
                                                              pad_token_id=pad_token_id), device)
            logits = model(**{k: batch[k] for k in MODEL_INPUTS}).float().cpu()
            rows = [logits[row, : len(features[i]["input_ids"])] if logits.ndim == 3 else logits[row]
                    for row, i in enumerate(indices)]
            pieces.append((indices, rows))
    if world > 1:
        pieces = gather_object(pieces)
    out: list = [None] * len(features)
    for indices, rows in pieces:
        for i, row in zip(indices, rows):
            out[i] = row
    return out
