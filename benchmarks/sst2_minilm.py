"""Protocol sst2-minilm (../shared/BENCHMARK.md): ptune and PEFT P-tuning side by side.

    python benchmarks/sst2_minilm.py --methods ptune,peft-ptuning --seeds 0,1,2

One JSON file per (method, seed) cell under --results; a finished cell is skipped when the command
is run again, so an interrupted grid resumes. Each cell runs in its own process (clean peak RSS).
Every method goes through the same loop (ptune.training.loop.fit) with the same batch plan.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from ptune.compare.peft_ptuning import PeftClassifier, build_peft_ptuning

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sst2"

# base name -> (PTuningConfig overrides, encoder overrides, TrainConfig overrides); any field can
# then be set per run with `name[field=value;...]`, e.g. `ptune[placement=prefix;lr=1e-2]`.
PTUNE_VARIANTS = {
    "ptune": ({}, {}, {}),
    "ptune-lstm": ({"encoder": {"type": "lstm"}}, None, {}),
    "ptune-embedding": ({"encoder": {"type": "embedding"}}, None, {}),
}
PEFT_LR = 5e-3


def protocol_examples(seed: int, train_size: int):
    from ptune.data import load_examples

    train = load_examples(DATA / "train.tsv")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return [train[i] for i in order[:train_size]], load_examples(DATA / "dev.tsv")


def parse_method(name: str) -> tuple[str, dict]:
    """`ptune-lstm[lr=1e-2;num_virtual_tokens=50]` -> ("ptune-lstm", {"lr": 0.01, ...})."""
    if "[" not in name:
        return name, {}
    base, rest = name.split("[", 1)
    settings = {}
    for item in rest.rstrip("]").split(";"):
        key, value = item.split("=", 1)
        settings[key] = parse_value(value)
    return base, settings


def parse_value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_ptune(name: str, seed: int):
    import dataclasses

    from ptune.backbone import load_backbone
    from ptune.config import PTuningConfig, TrainConfig
    from ptune.model import PTuningModel

    base, settings = parse_method(name)
    model_overrides, encoder_overrides, train_overrides = PTUNE_VARIANTS[base]
    model_overrides, encoder_overrides, train_overrides = dict(model_overrides), dict(encoder_overrides or {}), dict(train_overrides)
    lrs = {"lr": 5e-3, "head_lr": 5e-3}
    model_fields = {f.name for f in dataclasses.fields(PTuningConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in settings.items():
        target = lrs if key in lrs else model_overrides if key in model_fields else train_overrides if key in train_fields else encoder_overrides
        target[key] = value
    backbone, tokenizer = load_backbone(None)
    config = PTuningConfig(**{"max_length": 66, **model_overrides})
    if encoder_overrides:
        config.encoder = type(config.encoder)(**{**{k: v for k, v in config.encoder.to_dict().items() if k != "type"}, **encoder_overrides})
    return PTuningModel(backbone, config, num_labels=2, seed=seed), tokenizer, train_overrides, lrs


def build_peft(name: str, seed: int):
    from transformers import AutoTokenizer

    from ptune.backbone import bundled_model_path

    path = bundled_model_path()
    model = build_peft_ptuning(str(path), num_labels=2, seed=seed)
    _, settings = parse_method(name)
    settings.setdefault("precision", "fp32")  # PEFT users train in fp32 unless they set up autocast
    lrs = {"lr": settings.pop("lr", PEFT_LR)}
    lrs["head_lr"] = settings.pop("head_lr", lrs["lr"])
    return model, AutoTokenizer.from_pretrained(path), settings, lrs


def run_cell(method: str, seed: int, train_size: int) -> dict:
    from ptune.config import TrainConfig
    from ptune.data import LabelSet, tokenize
    from ptune.training.evaluate import predict_logits
    from ptune.training.loop import fit
    from ptune.training.run import make_accelerator, resolve_precision

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    if method.startswith("peft-ptuning"):
        model, tokenizer, train_overrides, lrs = build_peft(method, seed)
        text_length = 66
    else:
        model, tokenizer, train_overrides, lrs = build_ptune(method, seed)
        text_length = model.max_text_length()
    train, dev = protocol_examples(seed, train_size)
    labels = LabelSet(("0", "1"))
    train_features = tokenize(train, tokenizer=tokenizer, max_length=text_length, labels=labels)
    dev_features = tokenize(dev, tokenizer=tokenizer, max_length=text_length, labels=labels)
    config = TrainConfig(epochs=1, batch_size=32, seed=seed, **lrs, **train_overrides)
    accelerator = make_accelerator(config.precision)
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, train_features=train_features, dev_features=dev_features, config=config,
                     run_dir=Path(run_dir), pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                     accelerator=accelerator, show_progress=False)
        model = accelerator.unwrap_model(model)
        model.eval()
        if hasattr(model, "fold_prompt"):
            model.fold_prompt()
        eval_times = []
        for _ in range(3):
            started = time.perf_counter()
            predict_logits(model, dev_features, batch_size=64, pad_token_id=tokenizer.pad_token_id,
                           accelerator=accelerator)
            eval_times.append(time.perf_counter() - started)
        size, counts = inference_artifact(model, Path(run_dir), labels)
    eval_seconds = sorted(eval_times)[1]
    padded = padded_tokens(train_features, config, tokenizer)
    return {
        "method": method, "seed": seed, "train_size": train_size, "steps": result.steps_total,
        "dev_accuracy": result.final_metrics["accuracy"], "dev_macro_f1": result.final_metrics["macro_f1"],
        "train_seconds": result.state.train_seconds,
        "train_samples_per_s": result.state.samples_seen / result.state.train_seconds,
        "eval_samples_per_s": len(dev_features) / eval_seconds,
        "eval_seconds_median_of_3": eval_seconds,
        "trainable_parameters": counts["trainable"], "total_parameters": counts["total"],
        "trainable_percent": 100 * counts["trainable"] / counts["total"],
        "inference_parameters": counts["inference"],
        "inference_bytes": size, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "learning_rates": lrs, "precision": resolve_precision(config.precision), "group_by_length": config.group_by_length,
        "mean_padded_length": padded,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def padded_tokens(features, config, tokenizer) -> float:
    from ptune.data import training_batches

    lengths = [len(f["input_ids"]) for f in features]
    plan = training_batches(lengths, batch_size=config.batch_size, seed=config.seed, epoch=0,
                            group_by_length=config.group_by_length)
    return sum(max(lengths[i] for i in b) * len(b) for b in plan) / len(lengths)


def inference_artifact(model, run_dir: Path, labels) -> tuple[int, dict]:
    """Bytes on disk of what inference needs, and parameter counts."""
    from ptune.artifacts import inference_size_bytes, save_adapter

    if isinstance(model, PeftClassifier):
        out = run_dir / "peft_adapter"
        model.inner.save_pretrained(out)
        from safetensors.torch import load_file

        files = list(out.rglob("*.safetensors"))
        size = sum(p.stat().st_size for p in files)
        saved = sum(t.numel() for f in files for t in load_file(f).values())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        return size, {"trainable": trainable, "total": total, "inference": saved}
    save_adapter(model, run_dir / "adapter", label_names=list(labels.names), backbone_name=None)
    return inference_size_bytes(run_dir / "adapter"), model.parameter_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="ptune,peft-ptuning")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train-size", type=int, default=16000)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "sst2-minilm"))
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    results = Path(args.results)
    if args.cell:
        method, seed = args.cell.rsplit(":", 1)
        try:
            row = run_cell(method, int(seed), args.train_size)
        except Exception:
            row = {"method": method, "seed": int(seed), "error": traceback.format_exc()}
        (results / f"{method}__seed{seed}.json").write_text(json.dumps(row, indent=2) + "\n")
        return
    results.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds.split(","):
        for method in args.methods.split(","):
            cell = results / f"{method}__seed{seed}.json"
            if cell.exists() and "error" not in json.loads(cell.read_text() or "{}"):
                print(f"skip {cell.name} (done)", flush=True)
                continue
            started = time.time()
            subprocess.run([sys.executable, __file__, "--cell", f"{method}:{seed}", "--results", str(results),
                            "--train-size", str(args.train_size)], check=False)
            row = json.loads(cell.read_text()) if cell.exists() else {"error": "no result written"}
            summary = row.get("error", "").strip().splitlines()[-1:] or [
                f"acc {row['dev_accuracy']:.4f} train {row['train_samples_per_s']:.1f}/s eval {row['eval_samples_per_s']:.1f}/s"]
            print(f"{method} seed {seed}: {summary[0]} ({time.time() - started:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
