"""`ptune bench speed`: ptune (fp32 and bf16, length-grouped) against PEFT's P-tuning (fp32, random
batches) in one invocation, with the machine's measured matmul rate as the ceiling.

Every row trains the same examples for one epoch through the same loop and then predicts the dev
set at batch 64; samples/s count training steps only. Efficiency = useful FLOPs per second (text
tokens only: no padding, no virtual tokens; forward + activation-gradient backward) over the
measured matmul rate of the row's precision.
"""
from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ptune.config import PTuningConfig, TrainConfig
from ptune.data import LabelSet, load_examples, tokenize
from ptune.flops import ptuning_flops
from ptune.training.evaluate import predict_logits
from ptune.training.run import bf16_is_native, make_accelerator, resolve_precision


def matmul_gflops(dtype: torch.dtype, *, size: int = 2048, seconds: float = 1.0) -> float:
    """Median rate of `size`² matmuls over three timed rounds of about `seconds` each."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    started, repeats = time.perf_counter(), 0
    while time.perf_counter() - started < seconds / 3:
        a @ b
        repeats += 1
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        rates.append(2 * size**3 * repeats / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def _build(kind: str, model_name: str | None, num_labels: int, seed: int):
    from ptune.backbone import load_backbone, resolve_model_path

    if kind == "peft":
        from ptune.compare.peft_methods import build_peft_ptuning

        return build_peft_ptuning(resolve_model_path(model_name), num_labels=num_labels, seed=seed)
    from ptune.model import PTuningModel

    backbone, _ = load_backbone(model_name)
    return PTuningModel(backbone, PTuningConfig(), num_labels=num_labels, seed=seed)


ROWS = (  # (label, model kind, precision, length-grouped batches)
    ("ptune fp32, length-grouped", "ptune", "fp32", True),
    ("ptune bf16, length-grouped", "ptune", "bf16", True),
    ("PEFT P-tuning fp32, random batches", "peft", "fp32", False),
)


def bench_speed(*, model_name: str | None, data: str, train_samples: int = 640, batch_size: int = 32,
                max_length: int = 66, seed: int = 0, include_peft: bool = True, log=print) -> dict:
    from ptune.backbone import load_backbone
    from ptune.training.loop import fit

    torch.manual_seed(seed)
    _, tokenizer = load_backbone(model_name)
    train = load_examples(data, split="train")
    random.Random(seed).shuffle(train)
    train, dev = train[:train_samples], load_examples(data, split="dev")
    labels = LabelSet.from_examples(train)
    train_features = tokenize(train, tokenizer=tokenizer, max_length=max_length, labels=labels)
    dev_features = tokenize(dev, tokenizer=tokenizer, max_length=max_length, labels=labels)
    ceilings = {"fp32": matmul_gflops(torch.float32)}
    if bf16_is_native():
        ceilings["bf16"] = matmul_gflops(torch.bfloat16)
    rows = []
    for label, kind, precision, grouped in ROWS:
        if (kind == "peft" and not include_peft) or (precision == "bf16" and "bf16" not in ceilings):
            continue
        model = _build(kind, model_name, len(labels), seed)
        config = TrainConfig(epochs=1, batch_size=batch_size, seed=seed, precision=precision, group_by_length=grouped)
        accelerator = make_accelerator(precision)
        with tempfile.TemporaryDirectory() as run_dir:
            result = fit(model, train_features=train_features, dev_features=dev_features, config=config,
                         run_dir=Path(run_dir), pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                         accelerator=accelerator, show_progress=False)
        model = accelerator.unwrap_model(model).eval()
        if hasattr(model, "fold_prompt"):
            model.fold_prompt()
        started = time.perf_counter()
        predict_logits(model, dev_features, batch_size=64, pad_token_id=tokenizer.pad_token_id, accelerator=accelerator)
        eval_seconds = time.perf_counter() - started
        backbone_config = model.inner.base_model.config if kind == "peft" else model.backbone.config
        flops = ptuning_flops(backbone_config, text_lengths=[len(f["input_ids"]) for f in train_features],
                              num_virtual_tokens=0)["useful_train"]
        achieved = flops / result.state.train_seconds / 1e9
        rows.append({"label": label, "precision": resolve_precision(precision), "group_by_length": grouped,
                     "train_samples_per_s": result.state.samples_seen / result.state.train_seconds,
                     "eval_samples_per_s": len(dev_features) / eval_seconds,
                     "useful_train_gflops_per_s": achieved, "efficiency": achieved / ceilings[precision],
                     "dev_accuracy": result.final_metrics["accuracy"]})
        log(format_row(rows[-1]))
    return {"ceiling_gflops_per_s": ceilings, "train_samples": len(train_features), "rows": rows}


def format_row(row: dict) -> str:
    return (f"{row['label']:<36} train {row['train_samples_per_s']:7.1f}/s  eval {row['eval_samples_per_s']:7.1f}/s  "
            f"{row['useful_train_gflops_per_s']:6.1f} GFLOP/s  {100 * row['efficiency']:5.1f}% of ceiling  "
            f"dev acc {row['dev_accuracy']:.4f}")
