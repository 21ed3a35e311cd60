"""`ptune predict` on one text, start to finish, on the bundled backbone: the adapter folder (the
PyTorch engine) and its ONNX export (ONNX Runtime, no torch), the median of N runs each, beside
`python -c "import torch"` (the floor any PyTorch path pays) and `import torch, transformers' BERT`,
measured in alternation so machine noise hits all four alike.

    python benchmarks/predict_startup.py [--rounds 5]    # writes benchmarks/results/predict-startup.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "predict-startup.json"


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    adapter = Path(tempfile.mkdtemp(prefix="ptune-startup-")) / "adapter"
    # a short run on the bundled sample and the bundled backbone: its adapter is what is timed
    subprocess.run([sys.executable, "-m", "ptune.cli", "train", "--output", str(adapter), "--epochs", "0.2",
                    "--no-progress"], check=True, capture_output=True)
    exported = adapter.parent / "onnx"
    subprocess.run([sys.executable, "-m", "ptune.cli", "export", "--adapter", str(adapter), "--output", str(exported)],
                   check=True, capture_output=True)
    text = "a gripping, beautifully shot film"
    commands = {
        "ptune predict, one text (adapter folder)": [sys.executable, "-m", "ptune.cli", "predict", "--adapter",
                                                     str(adapter), text],
        "ptune predict, one text (ONNX export)": [sys.executable, "-m", "ptune.cli", "predict", "--adapter",
                                                  str(exported), text],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "python -c 'import torch, transformers BERT'": [sys.executable, "-c",
                                                        "import torch, transformers.models.bert.modeling_bert"],
    }
    times = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            times[name].append(round(seconds(command), 3))
    result = {"command": "python benchmarks/predict_startup.py --rounds %d" % args.rounds, "rounds": args.rounds,
              "seconds": times, "median_seconds": {name: statistics.median(t) for name, t in times.items()}}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    for name, median in result["median_seconds"].items():
        print(f"{name:<45} median {median:.2f} s  ({', '.join(f'{t:.2f}' for t in times[name])})")


if __name__ == "__main__":
    main()
