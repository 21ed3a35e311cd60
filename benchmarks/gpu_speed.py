"""ptune deep prompts vs PEFT prefix tuning, LoRA and P-tuning on one GPU: training and inference
throughput of a BERT-base-sized and a DeBERTa-v3-base-sized model (random weights: speed does not
depend on them), same data, in one run; prints one table per family.

    python benchmarks/gpu_speed.py                               # on a CUDA machine, under 10 minutes
    python benchmarks/gpu_speed.py --tiny --train-size 64        # a CPU smoke run of the same code

Every row goes through ptune's compare harness (the loop of `ptune train`: accelerate, bf16
autocast with fp32 master weights, pinned host memory and non-blocking copies on CUDA).
Rows: ptune deep prompts in bf16 and fp32 with length-grouped batches; PEFT prefix tuning and LoRA
in bf16 with grouped batches (their best case in our loop); PEFT P-tuning fp32 with random batches
(as its users run it). A row PEFT cannot run on a family (prefix tuning needs `past_key_values` in
the model's forward, which DeBERTa's lacks) is printed with its error instead of a number.
Efficiency = training FLOPs per second over the measured matmul rate, counted on each text plus
its virtual tokens (padding left out), and on the text tokens alone.

DeBERTa-v3-base shapes: hidden 768, 12 layers, 12 heads, relative attention with 256 log buckets,
c2p+p2c, shared keys, no absolute positions; the bundled uncased WordPiece vocabulary (30,522 rows
instead of DeBERTa-v3's 128,100: the embedding lookup is not what is timed).
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
ROWS = ["ptune", "ptune[precision=fp32]", "peft-prefix[precision=bf16]", "peft-lora[precision=bf16]",
        "peft-ptuning[precision=fp32;group_by_length=false]"]
PEER = "peft-lora[precision=bf16]"
FAMILIES = {"bert": "BERT-base", "deberta-v2": "DeBERTa-v3-base"}


def family_config(family: str, vocab_size: int, *, tiny: bool):
    from transformers import BertConfig, DebertaV2Config

    sizes = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128) if tiny else {}
    if family == "bert":
        return BertConfig(vocab_size=vocab_size, **sizes)  # defaults: hidden 768, 12 layers, 12 heads
    return DebertaV2Config(vocab_size=vocab_size, relative_attention=True, pos_att_type=["p2c", "c2p"],
                           position_buckets=256, max_relative_positions=-1, position_biased_input=False,
                           share_att_key=True, norm_rel_ebd="layer_norm", type_vocab_size=0, **sizes)


def random_backbone(folder: Path, family: str, *, tiny: bool) -> str:
    """`family`-shaped model (or a tiny one) with random weights and the bundled uncased tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    from ptune.engine.backbone import bundled_model_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    torch.manual_seed(0)
    AutoModel.from_config(family_config(family, len(tokenizer), tiny=tiny)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = ROOT.parent / "shared" / "data" / "sst2"
    parser.add_argument("--data", default=str(default_data if default_data.exists() else ROOT / "src/ptune/resources"))
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: " + ", ".join(FAMILIES))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="tiny models instead of base-sized ones (CPU smoke runs)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "gpu-speed.json"))
    args = parser.parse_args()

    from ptune.lab.compare.protocol import ProtocolConfig
    from ptune.lab.speed import matmul_gflops

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    size = 8192 if device == "cuda" else (512 if args.tiny else 2048)  # a smoke run needs no full-size ceiling
    ceilings = {"fp32": matmul_gflops(torch.float32, size=size, device=device),
                "bf16": matmul_gflops(torch.bfloat16, size=size, device=device)}
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    families = args.families.split(",")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        parser.error(f"--families: unknown {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    rows = []
    for family in families:
        with tempfile.TemporaryDirectory() as folder:
            protocol = ProtocolConfig(data=args.data, model=random_backbone(Path(folder), family, tiny=args.tiny),
                                      train_size=args.train_size, batch_size=args.batch_size, max_length=66,
                                      eval_batch_size=64)
            for method in ROWS:
                rows.append(timed_row(protocol, method, family, ceilings, device))
    print(f"\n{name}: matmul ceiling fp32 {ceilings['fp32']:.0f} GFLOP/s, bf16 {ceilings['bf16']:.0f} GFLOP/s; "
          f"{'tiny models' if args.tiny else 'base-sized models'}, {args.train_size} SST-2 sentences, "
          f"batch {args.batch_size}")
    for family in families:
        print_table(family, [r for r in rows if r["family"] == family], tiny=args.tiny)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"device": name, "ceilings_gflops_per_s": ceilings, "tiny": args.tiny,
                                             "rows": [{k: v for k, v in r.items() if k != "loss_curve"} for r in rows]},
                                            indent=2) + "\n")


def timed_row(protocol, method: str, family: str, ceilings: dict, device: str) -> dict:
    from ptune.lab.compare.cell import run_cell

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    try:
        row = run_cell(protocol, method, seed=0)
    except Exception as err:  # a method PEFT cannot run on this family: the table says why
        print(f"{family} {method}: failed: {err}", file=sys.stderr, flush=True)
        return {"family": family, "method": method, "error": f"{type(err).__name__}: {err}"[:300]}
    row["family"] = family
    row["wall_seconds"] = time.time() - started
    row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    ceiling = ceilings["bf16" if row["precision"] == "bf16" else "fp32"]
    row["efficiency"] = row["train_gflops_per_s"] / ceiling
    row["text_efficiency"] = row["useful_train_gflops_per_s"] / ceiling
    print(f"{family} {method}: train {row['train_samples_per_s']:.0f}/s eval {row['eval_samples_per_s']:.0f}/s "
          f"({row['wall_seconds']:.0f}s)", file=sys.stderr, flush=True)
    return row


def print_table(family: str, rows: list[dict], *, tiny: bool) -> None:
    peer = next((r for r in rows if r["method"] == PEER and "error" not in r), None)
    print(f"\n{'tiny ' if tiny else ''}{FAMILIES[family]} shapes ({family}); × = over {PEER}\n")
    print("| method | precision | batches | train samples/s | × | eval samples/s | × "
          "| train GFLOP/s | share of ceiling | same, text tokens only | peak GPU MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['method']} | — | — | fails: {r['error'][:120]} | | | | | | | |")
            continue

        def ratio(key):
            return f"{r[key] / peer[key]:.2f}" if peer else "—"

        memory = f"{r['peak_gpu_mb']:.0f}" if r["peak_gpu_mb"] is not None else "—"
        print(f"| {r['method']} | {r['precision']} | {'grouped' if r['group_by_length'] else 'random'} "
              f"| {r['train_samples_per_s']:.0f} | {ratio('train_samples_per_s')} "
              f"| {r['eval_samples_per_s']:.0f} | {ratio('eval_samples_per_s')} "
              f"| {r['train_gflops_per_s']:.0f} | {100 * r['efficiency']:.0f}% | {100 * r['text_efficiency']:.0f}% "
              f"| {memory} |")


if __name__ == "__main__":
    main()
