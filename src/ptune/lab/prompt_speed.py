"""`ptune bench prompts`: inference cost of where the prompt goes, in one invocation.

Input-level virtual tokens pass through every layer's projections, attention and feed-forward
network; deep prompts only add k key/value columns to each layer's attention. Both are served
from folded tables. LoRA (PEFT, unmerged as PEFT serves it, and merged into the weights) and the
bare backbone bound the range. Weights are as initialised: this measures cost, not accuracy.
Each row predicts the same examples at the same batch size; samples/s is the median of
interleaved timed rounds after one warm-up pass.
"""
from __future__ import annotations

import statistics
import time

import torch

from ptune.engine.batched import predict_outputs
from ptune.data import load_examples
from ptune.runtime import bf16_is_native


def _ptune(backbone, injection: str, k: int, num_labels: int):
    from ptune.engine.model import PTuningModel
    from ptune.settings import resolve

    settings = resolve("classification", {"num_virtual_tokens": k, "injection": injection}).ptuning
    model = PTuningModel(backbone, settings, num_labels=num_labels)
    model.fold_prompt()
    model.encoder = None  # served as a table, as a loaded adapter is
    return model.eval()


def _probe(backbone, num_labels: int):
    from ptune.lab.compare.baselines import LinearProbe

    return LinearProbe(backbone, num_labels=num_labels).eval()


def _lora(model_name, num_labels: int, merged: bool):
    from ptune.engine.backbone import resolve_model_path
    from ptune.lab.compare.peft_methods import build_peft_lora

    wrapped = build_peft_lora(resolve_model_path(model_name), num_labels=num_labels)
    if merged:
        wrapped.inner = wrapped.inner.merge_and_unload()
    return wrapped.eval()


def bench_prompt_inference(*, model_name: str | None, data: str, split: str = "dev", k: int = 20,
                           max_length: int = 66, batch_size: int = 64, rounds: int = 5,
                           precisions: tuple[str, ...] | None = None, log=print) -> dict:
    from ptune.engine.backbone import load_backbone
    from ptune.data import LabelSet, tokenize

    examples = load_examples(data, split=split)
    labels = LabelSet.from_examples(examples)
    precisions = precisions or (("fp32", "bf16") if bf16_is_native() else ("fp32",))
    builders = {
        f"ptune input-level, k={k}": lambda: _ptune(load_backbone(model_name)[0], "input", k, len(labels)),
        f"ptune deep, k={k}": lambda: _ptune(load_backbone(model_name)[0], "deep", k, len(labels)),
        "PEFT LoRA r=8 (unmerged)": lambda: _lora(model_name, len(labels), merged=False),
        "PEFT LoRA r=8 (merged)": lambda: _lora(model_name, len(labels), merged=True),
        "backbone alone (no prompt)": lambda: _probe(load_backbone(model_name)[0], len(labels)),
    }
    tokenizer = load_backbone(model_name)[1]
    rows = []
    for name, build in builders.items():
        model = build()
        length = min(max_length, model.max_text_length()) if hasattr(model, "max_text_length") else max_length
        features = tokenize(examples, tokenizer=tokenizer, max_length=length, labels=None)
        for precision in precisions:
            row = {"label": name, "precision": precision, "model": model, "features": features, "seconds": []}
            predict(row, batch_size, tokenizer.pad_token_id)  # warm-up
            rows.append(row)
    for _ in range(rounds):
        for row in rows:
            started = time.perf_counter()
            predict(row, batch_size, tokenizer.pad_token_id)
            row["seconds"].append(time.perf_counter() - started)
    results = []
    for row in rows:
        results.append({"label": row["label"], "precision": row["precision"],
                        "samples_per_s": len(examples) / statistics.median(row["seconds"]), "seconds": row["seconds"]})
    for precision in precisions:
        shallow = next(r for r in results if r["precision"] == precision and r["label"].startswith("ptune input"))
        for r in (r for r in results if r["precision"] == precision):
            r["vs_input_level"] = r["samples_per_s"] / shallow["samples_per_s"]
            log(f"{r['label']:<30} {precision:<5} {r['samples_per_s']:8.1f} samples/s  "
                f"x{r['vs_input_level']:.2f} vs input-level")
    return {"data": str(data), "split": split, "examples": len(examples), "batch_size": batch_size, "k": k,
            "max_length": max_length, "rounds": rounds, "threads": torch.get_num_threads(), "rows": results}


def predict(row: dict, batch_size: int, pad_token_id: int) -> None:
    predict_outputs(row["model"], row["features"], batch_size=batch_size, pad_token_id=pad_token_id,
                    bf16=row["precision"] == "bf16")
