"""Roofline view of the sst2-minilm training runs: useful FLOPs per second against the machine's
measured matmul rate (torch matmul 2048 x 2048, 2 threads, fp32 and bf16), in one invocation.

    python benchmarks/efficiency.py benchmarks/results/sst2-minilm

Useful FLOPs count the text tokens of the 16,000 training sentences only (no padding, no virtual
tokens), forward + activation-gradient backward through the frozen backbone (ptune.flops).
"""
from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from sst2_minilm import protocol_examples  # noqa: E402

from ptune.speed import matmul_gflops  # noqa: E402


def useful_train_flops(seed: int) -> int:
    from ptune.backbone import load_backbone
    from ptune.flops import ptuning_flops

    backbone, tokenizer = load_backbone(None)
    train, _ = protocol_examples(seed, 16000)
    lengths = [len(ids) for ids in tokenizer([e.text for e in train], truncation=True, max_length=66)["input_ids"]]
    return ptuning_flops(backbone.config, text_lengths=lengths, num_virtual_tokens=0)["useful_train"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--methods", default="ptune,peft-ptuning,ptune[precision=fp32],peft-ptuning[group_by_length=false]")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ceiling = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    print(f"matmul ceiling (2048^2, 2 threads): fp32 {ceiling['fp32']:.0f} GFLOP/s, bf16 {ceiling['bf16']:.0f} GFLOP/s\n")
    print("| method | precision | useful train GFLOP/s (median of seeds) | share of fp32 ceiling | share of bf16 ceiling |")
    print("|---|---|---|---|---|")
    flops = {}
    for method in args.methods.split(","):
        cells = [json.loads(p.read_text()) for p in sorted(args.results.glob(glob.escape(method) + "__seed*.json"))]
        cells = [c for c in cells if "error" not in c]
        if not cells:
            continue
        rates = []
        for cell in cells:
            flops.setdefault(cell["seed"], useful_train_flops(cell["seed"]))
            rates.append(flops[cell["seed"]] / cell["train_seconds"] / 1e9)
        rate = statistics.median(rates)
        precision = "bf16" if cells[0]["precision"] == "bf16" else "fp32"
        print(f"| {method} | {precision} | {rate:.1f} | {100 * rate / ceiling['fp32']:.0f}% | {100 * rate / ceiling['bf16']:.0f}% |")


if __name__ == "__main__":
    main()
