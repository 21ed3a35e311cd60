"""serve-mixed on a GPU: the shared server (the engine on CUDA) with micro-batching on and off,
in fp32 (every answer checked against each adapter alone on the same device) and in bf16 (the
disagreements counted, not hidden), micro-batches sized for the device; prints one table per
precision. Plan for a few minutes on a recent GPU.

    python benchmarks/gpu_serve.py                                  # on a CUDA machine
    python benchmarks/gpu_serve.py --device cpu --requests 30 --output-dir /tmp   # a CPU dry run

Results: benchmarks/results/gpu-serve-{fp32,bf16}.json (serve_mixed.py's JSON, one per precision).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="8,32,128")
    parser.add_argument("--max-batch-size", type=int, default=128, help="a GPU takes far larger batches than 2 cores")
    parser.add_argument("--adapters", default=str(ROOT / "benchmarks" / "results" / "multitask" / "joint-seed0"))
    parser.add_argument("--time-limit", type=float, default=120)
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit("gpu_serve.py: no CUDA device here; pass --device cpu for a dry run")
        print(f"device: {torch.cuda.get_device_name()}", flush=True)
    for precision in ("fp32", "bf16"):
        output = Path(args.output_dir) / f"gpu-serve-{precision}.json"
        command = [sys.executable, str(ROOT / "benchmarks" / "serve_mixed.py"), "--adapters", args.adapters,
                   "--device", args.device, "--precision", precision, "--requests", str(args.requests),
                   "--concurrency", args.concurrency, "--max-batch-size", str(args.max_batch_size),
                   "--time-limit", str(args.time_limit), "--configurations", "batched,unbatched",
                   "--output", str(output)]
        print(f"\n## {precision} on {args.device}\n", flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
