"""ptune vs PEFT P-tuning on one GPU: training and inference throughput of a BERT-base-sized
model (random weights: speed does not depend on them), same data, in one run; prints a table.

    python benchmarks/gpu_speed.py                      # on a CUDA machine, about 5 minutes
    python benchmarks/gpu_speed.py --tiny --train-size 64   # a CPU smoke run of the same code

Every row goes through ptune's compare harness (the loop of `ptune train`: accelerate, bf16
autocast with fp32 master weights, pinned host memory and non-blocking copies on CUDA).
Rows: ptune bf16 and fp32 with length-grouped batches; PEFT P-tuning fp32 with random batches
(as its users run it) and bf16 with grouped batches (its best case in our loop). Efficiency =
training FLOPs per second over the measured matmul rate, counted on each text plus its virtual
tokens (padding left out), and on the text tokens alone.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ROWS = ["ptune", "ptune[precision=fp32]", "peft-ptuning[precision=fp32;group_by_length=false]",
        "peft-ptuning[precision=bf16]"]
PEER = "peft-ptuning[precision=fp32;group_by_length=false]"


def random_backbone(folder: Path, *, tiny: bool) -> str:
    """BERT-base shapes (or a tiny BERT) with random weights and the bundled uncased tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ptune.engine.backbone import bundled_model_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    config = BertConfig(vocab_size=len(tokenizer))  # defaults: hidden 768, 12 layers, 12 heads
    if tiny:
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = ROOT.parent / "shared" / "data" / "sst2"
    parser.add_argument("--data", default=str(default_data if default_data.exists() else ROOT / "src/ptune/resources"))
    parser.add_argument("--train-size", type=int, default=16000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="a tiny BERT instead of BERT-base (CPU smoke runs)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "gpu-speed.json"))
    args = parser.parse_args()

    from ptune.lab.compare.cell import run_cell
    from ptune.lab.compare.protocol import ProtocolConfig
    from ptune.lab.speed import matmul_gflops

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    size = 8192 if device == "cuda" else (512 if args.tiny else 2048)  # a smoke run needs no full-size ceiling
    ceilings = {"fp32": matmul_gflops(torch.float32, size=size, device=device),
                "bf16": matmul_gflops(torch.bfloat16, size=size, device=device)}
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        protocol = ProtocolConfig(data=args.data, model=random_backbone(Path(folder), tiny=args.tiny),
                                  train_size=args.train_size, batch_size=args.batch_size, max_length=66,
                                  eval_batch_size=64)
        for method in ROWS:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            started = time.time()
            row = run_cell(protocol, method, seed=0)
            row["wall_seconds"] = time.time() - started
            row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
            ceiling = ceilings["bf16" if row["precision"] == "bf16" else "fp32"]
            row["efficiency"] = row["train_gflops_per_s"] / ceiling
            row["text_efficiency"] = row["useful_train_gflops_per_s"] / ceiling
            rows.append(row)
            print(f"{method}: train {row['train_samples_per_s']:.0f}/s eval {row['eval_samples_per_s']:.0f}/s "
                  f"({row['wall_seconds']:.0f}s)", file=sys.stderr, flush=True)
    peer = next(r for r in rows if r["method"] == PEER)
    print(f"\n{name}: matmul ceiling fp32 {ceilings['fp32']:.0f} GFLOP/s, bf16 {ceilings['bf16']:.0f} GFLOP/s; "
          f"{'tiny BERT' if args.tiny else 'BERT-base shapes'}, {rows[0]['train_examples']} SST-2 sentences, "
          f"batch {args.batch_size}\n")
    print("| method | precision | batches | train samples/s | ×peer | eval samples/s | ×peer "
          "| train GFLOP/s | share of ceiling | same, text tokens only | peak GPU MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        memory = f"{r['peak_gpu_mb']:.0f}" if r["peak_gpu_mb"] is not None else "—"
        print(f"| {r['method']} | {r['precision']} | {'grouped' if r['group_by_length'] else 'random'} "
              f"| {r['train_samples_per_s']:.0f} | {r['train_samples_per_s'] / peer['train_samples_per_s']:.2f} "
              f"| {r['eval_samples_per_s']:.0f} | {r['eval_samples_per_s'] / peer['eval_samples_per_s']:.2f} "
              f"| {r['train_gflops_per_s']:.0f} | {100 * r['efficiency']:.0f}% | {100 * r['text_efficiency']:.0f}% "
              f"| {memory} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"device": name, "ceilings_gflops_per_s": ceilings, "tiny": args.tiny,
                                             "rows": [{k: v for k, v in r.items() if k != "loss_curve"} for r in rows]},
                                            indent=2) + "\n")


if __name__ == "__main__":
    main()
