"""`ptune bench`: training speed against PEFT, an adapter's inference options, prompt kinds' cost."""
from __future__ import annotations

import json
from pathlib import Path

from ptune.cli.flags import DEMO_DATA
from ptune.errors import ConfigError

HELP = "measurements"


def add_parser(commands) -> None:
    p = commands.add_parser("bench", help=HELP)
    kinds = p.add_subparsers(dest="bench", required=True)
    speed = kinds.add_parser("speed", help="ptune fp32/bf16 vs PEFT P-tuning: samples/s and share of the matmul ceiling")
    speed.add_argument("--model", default=None, help="backbone (default: the bundled all-MiniLM-L6-v2)")
    speed.add_argument("--data", default=None, help="folder with train and dev files (default: the bundled sample)")
    speed.add_argument("--train-samples", type=int, default=640)
    speed.add_argument("--batch-size", type=int, default=32)
    speed.add_argument("--max-length", type=int, default=66)
    speed.add_argument("--no-peft", action="store_true", help="skip the PEFT row")
    speed.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    speed.set_defaults(func=cmd_bench_speed)
    inference = kinds.add_parser("inference", help="an adapter's inference options (fp32, bf16, int8, compile): "
                                                   "accuracy, agreement with fp32, samples/s")
    inference.add_argument("--adapter", required=True)
    inference.add_argument("--data", required=True, help="labelled data (a folder: its dev split)")
    inference.add_argument("--split", default="dev")
    inference.add_argument("--batch-size", type=int, default=64)
    inference.add_argument("--rounds", type=int, default=5, help="timed passes per option (median reported)")
    inference.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    inference.set_defaults(func=cmd_bench_inference)
    prompts = kinds.add_parser("prompts", help="inference cost of input-level vs deep prompts vs LoRA vs no prompt")
    prompts.add_argument("--model", default=None, help="backbone (default: the bundled all-MiniLM-L6-v2)")
    prompts.add_argument("--data", default=None, help="data whose dev split is predicted (default: the bundled sample)")
    prompts.add_argument("--num-virtual-tokens", type=int, default=20)
    prompts.add_argument("--max-length", type=int, default=66)
    prompts.add_argument("--batch-size", type=int, default=64)
    prompts.add_argument("--rounds", type=int, default=5, help="timed passes per row (median reported)")
    prompts.add_argument("--precisions", default=None, metavar="fp32,bf16",
                         help="precisions to time (default: fp32, and bf16 where the hardware computes it natively)")
    prompts.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    prompts.set_defaults(func=cmd_bench_prompts)


def cmd_bench_speed(args) -> int:
    from ptune.lab.speed import bench_speed

    if not args.no_peft:
        from ptune.extras import require

        require("peft", "the PEFT row of `ptune bench speed`", alternative="or pass --no-peft")
    result = bench_speed(model_name=args.model, data=args.data or str(DEMO_DATA), train_samples=args.train_samples,
                         batch_size=args.batch_size, max_length=args.max_length, include_peft=not args.no_peft)
    ceilings = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in result["ceiling_gflops_per_s"].items())
    print(f"matmul ceiling (2048², {torch_threads()} threads): {ceilings}; {result['train_samples']} training samples")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_bench_inference(args) -> int:
    from ptune.lab.speed import bench_inference

    result = bench_inference(args.adapter, data=args.data, split=args.split, batch_size=args.batch_size,
                             rounds=args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_bench_prompts(args) -> int:
    from ptune.lab.prompt_speed import bench_prompt_inference

    result = bench_prompt_inference(model_name=args.model, data=args.data or str(DEMO_DATA), k=args.num_virtual_tokens,
                                    max_length=args.max_length, batch_size=args.batch_size, rounds=args.rounds,
                                    precisions=parse_precisions(args.precisions))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def parse_precisions(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    problems = [f"{c!r}: expected fp32 or bf16" for c in chosen if c not in ("fp32", "bf16")]
    problems += [] if chosen else ["no precision given: e.g. --precisions fp32,bf16"]
    if problems:
        raise ConfigError("--precisions", problems)
    return chosen


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()
