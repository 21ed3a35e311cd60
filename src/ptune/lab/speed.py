"""`ptune bench speed`: ptune (fp32 and bf16, length-grouped) against PEFT's P-tuning (fp32, random
batches) in one invocation, with the machine's measured matmul rate as the ceiling.

Every row trains the same examples for one epoch through the same loop; samples/s count training
steps only. Then every trained model predicts the dev set at batch 64 in interleaved timed rounds
(median): ptune with its length-sorted batches, PEFT both in its own pipeline (the data's order)
and with ptune's sorted batches.

Efficiency = training FLOPs per second over the measured matmul rate of the row's precision,
counted on the tokens the method computes on (each text plus its virtual tokens; padding is left
out, since removing it is the pipeline's job) and, stricter, on the text tokens alone.
"""
from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ptune.config import TrainConfig
from ptune.data import LabelSet, load_examples, tokenize
from ptune.data.batching import training_batches
from ptune.lab.flops import ptuning_flops
from ptune.engine.batched import predict_logits
from ptune.lab.compare.methods import METHODS
from ptune.runtime import bf16_is_native, resolve_precision
from ptune.settings import resolve
from ptune.training.run import make_accelerator

NUM_VIRTUAL_TOKENS = 20  # both sides: ptune's default and the protocol's PEFT configuration


def matmul_gflops(dtype: torch.dtype, *, size: int = 2048, seconds: float = 1.0, device: str = "cpu") -> float:
    """Median rate of `size`² matmuls over three timed rounds of about `seconds` each."""
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b  # warm-up
    sync()
    started, repeats = time.perf_counter(), 0
    while time.perf_counter() - started < seconds / 3:
        a @ b
        sync()
        repeats += 1
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        sync()
        rates.append(2 * size**3 * repeats / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def _build(kind: str, model_name: str | None, num_labels: int, seed: int):
    from ptune.engine.backbone import load_backbone, resolve_model_path

    if kind == "peft":
        from ptune.lab.compare.peft_methods import build_peft_ptuning

        return build_peft_ptuning(resolve_model_path(model_name), num_labels=num_labels, seed=seed,
                                  num_virtual_tokens=NUM_VIRTUAL_TOKENS)
    from ptune.engine.model import PTuningModel

    backbone, _ = load_backbone(model_name)
    settings = resolve("classification", {"num_virtual_tokens": NUM_VIRTUAL_TOKENS}).ptuning
    return PTuningModel(backbone, settings, num_labels=num_labels, seed=seed)


ROWS = (  # (label, model kind, precision, length-grouped batches)
    ("ptune fp32, length-grouped", "ptune", "fp32", True),
    ("ptune bf16, length-grouped", "ptune", "bf16", True),
    ("PEFT P-tuning fp32, random batches", "peft", "fp32", False),
)


def padded_length(lengths: list[int], batches: list[list[int]]) -> float:
    """Mean tokens per text the backbone computes once batches are padded to their longest text."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(len(b) for b in batches)


def bench_speed(*, model_name: str | None, data: str, train_samples: int = 640, batch_size: int = 32,
                max_length: int = 66, seed: int = 0, include_peft: bool = True, eval_rounds: int = 3,
                eval_batch_size: int = 64, log=print) -> dict:
    from ptune.engine.backbone import load_backbone
    from ptune.training.loop import fit, learning_rates_for

    torch.manual_seed(seed)
    _, tokenizer = load_backbone(model_name)
    train = load_examples(data, split="train")
    random.Random(seed).shuffle(train)
    train, dev = train[:train_samples], load_examples(data, split="dev")
    labels = LabelSet.from_examples(train)
    train_features = tokenize(train, tokenizer=tokenizer, max_length=max_length, labels=labels)
    dev_features = tokenize(dev, tokenizer=tokenizer, max_length=max_length, labels=labels)
    lengths = [len(f["input_ids"]) for f in train_features]
    ceilings = {"fp32": matmul_gflops(torch.float32)}
    if bf16_is_native():
        ceilings["bf16"] = matmul_gflops(torch.bfloat16)
    rows, trained = [], []
    for label, kind, precision, grouped in ROWS:
        if (kind == "peft" and not include_peft) or (precision == "bf16" and "bf16" not in ceilings):
            continue
        model = _build(kind, model_name, len(labels), seed)
        # ptune's rate comes from the resolver; PEFT's is its `ptune compare` default (stated in each row)
        lr = METHODS["peft-ptuning"].lr if kind == "peft" else None
        config = learning_rates_for(model, TrainConfig(epochs=1, batch_size=batch_size, seed=seed, precision=precision,
                                                       group_by_length=grouped, lr=lr), train_rows=len(train_features))
        accelerator = make_accelerator(precision)
        with tempfile.TemporaryDirectory() as run_dir:
            result = fit(model, train_features=train_features, dev_features=dev_features, config=config,
                         run_dir=Path(run_dir), pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                         accelerator=accelerator, show_progress=False)
        model = accelerator.unwrap_model(model).eval()
        if hasattr(model, "fold_prompt"):
            model.fold_prompt()
        backbone_config = model.inner.base_model.config if kind == "peft" else model.backbone.config
        flops = ptuning_flops(backbone_config, text_lengths=lengths, num_virtual_tokens=NUM_VIRTUAL_TOKENS)
        seconds = result.state.train_seconds
        plan = training_batches(lengths, batch_size=batch_size, seed=seed, epoch=0, group_by_length=grouped)
        rows.append({"label": label, "kind": kind, "precision": "bf16" if resolve_precision(precision) == "bf16" else "fp32",
                     "group_by_length": grouped,
                     "train_samples_per_s": result.state.samples_seen / seconds,
                     "train_gflops_per_s": flops["train"] / seconds / 1e9,
                     "efficiency": flops["train"] / seconds / 1e9 / ceilings[precision],
                     "text_train_gflops_per_s": flops["text_train"] / seconds / 1e9,
                     "text_efficiency": flops["text_train"] / seconds / 1e9 / ceilings[precision],
                     "mean_text_tokens": sum(lengths) / len(lengths),
                     "mean_padded_text_tokens": padded_length(lengths, plan),
                     "dev_accuracy": result.final_metrics["accuracy"]})
        trained.append((rows[-1], model, accelerator))
    timings = {}  # (row label, batch order) -> seconds of each round
    for _ in range(eval_rounds):  # interleaved, so a noisy moment on a shared machine hits every row
        for row, model, accelerator in trained:
            for sort in (True, False) if row["kind"] == "peft" else (True,):
                started = time.perf_counter()
                predict_logits(model, dev_features, batch_size=eval_batch_size, pad_token_id=tokenizer.pad_token_id,
                               accelerator=accelerator, sort_by_length=sort)
                timings.setdefault((row["label"], sort), []).append(time.perf_counter() - started)
    for row, _, _ in trained:
        rate = {sort: len(dev_features) / statistics.median(times) for (label, sort), times in timings.items()
                if label == row["label"]}
        # each side in its own pipeline: ptune sorts by length, PEFT takes the data's order
        row["eval_samples_per_s"] = rate[True] if row["kind"] == "ptune" else rate[False]
        if row["kind"] == "peft":
            row["eval_samples_per_s_sorted_batches"] = rate[True]
        log(format_row(row))
    return {"ceiling_gflops_per_s": ceilings, "train_samples": len(train_features), "dev_samples": len(dev_features),
            "eval_rounds": eval_rounds, "eval_batch_size": eval_batch_size, "num_virtual_tokens": NUM_VIRTUAL_TOKENS,
            "threads": torch.get_num_threads(), "rows": rows}


def format_row(row: dict) -> str:
    sorted_eval = f" (sorted: {row['eval_samples_per_s_sorted_batches']:.1f}/s)" if row["kind"] == "peft" else ""
    return (f"{row['label']:<36} train {row['train_samples_per_s']:7.1f}/s  eval {row['eval_samples_per_s']:7.1f}/s"
            f"{sorted_eval}  {row['train_gflops_per_s']:6.1f} GFLOP/s = {100 * row['efficiency']:5.1f}% of ceiling "
            f"({100 * row['text_efficiency']:4.1f}% on text tokens)  dev acc {row['dev_accuracy']:.4f}")


INFERENCE_VARIANTS = (  # (label, Predictor options)
    ("fp32", {"precision": "fp32"}),
    ("bf16", {"precision": "bf16"}),
    ("int8 dynamic (backbone Linear)", {"precision": "fp32", "quantize": "int8"}),
    ("fp32 + torch.compile", {"precision": "fp32", "compile": True}),
    ("bf16 + torch.compile", {"precision": "bf16", "compile": True}),
)


class ExportTimer:
    """The exported graph (ptune.inference.onnx_predictor, what `ptune predict` runs on an export)
    under the interface the other rows are timed through: `logits(examples)` as a tensor."""

    def __init__(self, folder, batch_size: int):
        from ptune.inference.onnx_predictor import OnnxPredictor

        self.onnx = OnnxPredictor(folder, batch_size=batch_size)
        self.label_names = self.onnx.label_names

    def logits(self, examples) -> torch.Tensor:
        return torch.from_numpy(self.onnx.logits(examples))


def add_onnx_variant(adapter, examples, chosen, predictions, times, *, batch_size: int, log) -> None:
    """The ONNX export timed beside PyTorch; a missing onnxruntime or a failed export is a row with its error."""
    label = "onnxruntime (fp32)"
    options = {"export": "onnx"}
    try:
        from ptune.inference.export import export_onnx

        folder = Path(tempfile.mkdtemp(prefix="ptune-onnx-"))
        export_onnx(adapter, folder, overwrite=True)
        predictor = ExportTimer(folder, batch_size)
        predictions[label] = predictor.logits(examples).argmax(-1).numpy()  # warm-up
    except Exception as error:  # a failed option is a row with its error, not a crash
        log(f"{label}: failed: {type(error).__name__}: {error}")
        chosen.append({"label": label, "options": options, "error": f"{type(error).__name__}: {error}"})
        return
    chosen.append({"label": label, "options": options, "predictor": predictor})
    times[label] = []


def bench_inference(adapter: str, *, data: str, split: str = "dev", batch_size: int = 64, rounds: int = 5,
                    model_name: str | None = None, variants: tuple[str, ...] | None = None, log=print) -> dict:
    """Each inference option on the same labelled split, in one invocation: accuracy, agreement
    with fp32, and samples/s as the median of `rounds` timed passes taken in interleaved order
    (after one untimed warm-up pass, which is where torch.compile compiles)."""
    import numpy as np

    from ptune.inference.predictor import Predictor

    from ptune.format.artifacts import read_adapter_config
    from ptune.errors import ConfigError

    kind = read_adapter_config(adapter)["task"]["type"]
    if kind not in ("classification", "sequence_classification"):
        raise ConfigError("bench inference", [f"{adapter} is a {kind} adapter; this bench scores classification "
                                              "accuracy (use `ptune eval --precision ...` for other tasks)"])
    examples = load_examples(data, split=split)
    chosen, predictions, times = [], {}, {}
    for label, options in INFERENCE_VARIANTS:
        if (variants is not None and label not in variants and label != "fp32") or (
                options.get("precision") == "bf16" and not bf16_is_native()):
            continue
        try:
            predictor = Predictor(adapter, model_name=model_name, batch_size=batch_size, **options)
            predictions[label] = predictor.logits(examples).argmax(-1).numpy()  # warm-up (and compile)
        except Exception as error:  # a failed option is a row with its error, not a crash
            log(f"{label}: failed: {type(error).__name__}: {error}")
            chosen.append({"label": label, "options": options, "error": f"{type(error).__name__}: {error}"})
            continue
        chosen.append({"label": label, "options": options, "predictor": predictor})
        times[label] = []
    if variants is None or "onnxruntime (fp32)" in variants:
        add_onnx_variant(adapter, examples, chosen, predictions, times, batch_size=batch_size, log=log)
    for _ in range(rounds):
        for variant in chosen:
            if "predictor" in variant:
                started = time.perf_counter()
                variant["predictor"].logits(examples)
                times[variant["label"]].append(time.perf_counter() - started)
    names = chosen[0]["predictor"].label_names if "predictor" in chosen[0] else None
    truth = np.array([names.index(e.label) for e in examples]) if names else None
    rows = []
    for variant in chosen:
        row = {"label": variant["label"], "options": variant["options"]}
        if "error" in variant:
            row["error"] = variant["error"]
        else:
            mine = predictions[variant["label"]]
            row.update({"dev_accuracy": float((mine == truth).mean()),
                        "agreement_with_fp32": float((mine == predictions["fp32"]).mean()),
                        "samples_per_s": len(examples) / statistics.median(times[variant["label"]]),
                        "seconds": times[variant["label"]]})
        rows.append(row)
    base = next(r["samples_per_s"] for r in rows if r["label"] == "fp32")
    for row in rows:
        if "samples_per_s" in row:
            row["speedup_vs_fp32"] = row["samples_per_s"] / base
            log(f"{row['label']:<32} acc {row['dev_accuracy']:.4f}  agree {row['agreement_with_fp32']:.4f}  "
                f"{row['samples_per_s']:7.1f} samples/s  x{row['speedup_vs_fp32']:.2f} vs fp32")
    return {"adapter": str(adapter), "data": str(data), "split": split, "examples": len(examples),
            "batch_size": batch_size, "rounds": rounds, "threads": torch.get_num_threads(), "rows": rows}
