"""Why ONNX Runtime's fp32 is not much faster than PyTorch on this CPU: the SST-2 adapter of the joint
run on the 872 SST-2 dev sentences (length-sorted batches of 32), the forward alone, three ways in
interleaved rounds: PyTorch (`Engine.logits`), the folded one-adapter export (`ptune export`), and
the shared backbone graph with the prompt as an input (`--backbone-graph`) plus the head graph.
Then ONNX Runtime's own profile of the shared graph on the same batches: time per operator type.

    python benchmarks/experiments/onnx_vs_torch_forward.py --adapters benchmarks/results/multitask/joint-seed0
    # writes benchmarks/results/onnx-vs-torch-forward.json
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks" / "results" / "onnx-vs-torch-forward.json"


def main() -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    from ptune.data.sources import load_examples
    from ptune.engine.bank import AdapterBank
    from ptune.inference.onnx_engine import OnnxAdapter, OnnxEngine, pad_features

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    adapter = Path(args.adapters) / "sst2"
    folder = Path(tempfile.mkdtemp(prefix="onnx-forward-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for extra in ([], ["--backbone-graph", str(folder / "graph")]):
        target = folder / ("shared" if extra else "folded")
        subprocess.run([sys.executable, "-m", "ptune.cli", "export", "--adapter", str(adapter), "--output", str(target),
                        *extra], check=True, capture_output=True, env=env)
    torch.set_num_threads(2)
    bank = AdapterBank.from_adapters({"sst2": str(adapter)}, precision="fp32", device="cpu")
    entry = bank.get("sst2")
    texts = [e.text for e in load_examples(ROOT.parent / "shared" / "data" / "sst2", split="dev")]
    features = sorted(bank.features(entry, bank.examples(entry, texts)), key=lambda f: len(f["input_ids"]))
    batches = [pad_features(features[i:i + 32], pad_token_id=0) for i in range(0, len(features), 32)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    folded = ort.InferenceSession(str(folder / "folded" / "model.onnx"), options, providers=["CPUExecutionProvider"])
    engine = OnnxEngine(folder / "graph", threads=2)
    shared = OnnxAdapter.load(folder / "shared")
    names = ("input_ids", "attention_mask", "token_type_ids")

    def run_torch():
        with torch.inference_mode():
            for batch in batches:
                bank.engine.logits(*(torch.from_numpy(batch[n]) for n in names), adapter=entry.adapter)

    def run_folded():
        for batch in batches:
            folded.run(None, batch)

    def run_shared():
        for batch in batches:
            engine.mixed_logits(*(batch[n] for n in names), [shared] * len(batch["input_ids"]))

    ways = {"PyTorch engine": run_torch, "ONNX, folded export": run_folded, "ONNX, shared graph + head": run_shared}
    for run in ways.values():
        run()  # warm-up
    seconds = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, run in ways.items():
            started = time.perf_counter()
            run()
            seconds[name].append(round(time.perf_counter() - started, 3))
    medians = {name: statistics.median(t) for name, t in seconds.items()}
    profiled = ort.SessionOptions()
    profiled.intra_op_num_threads = 2
    profiled.enable_profiling = True
    profiled.profile_file_prefix = str(folder / "profile")
    session = ort.InferenceSession(str(folder / "graph" / "backbone-after_cls.onnx"), profiled,
                                   providers=["CPUExecutionProvider"])
    for batch in batches:
        feeds = dict(batch)
        for name, width in engine.settings["injections"].items():
            rows = shared.table[None].repeat(len(batch["input_ids"]), 0) if name == shared.config.injection else \
                np.zeros((len(batch["input_ids"]), 1, width), dtype=np.float32)
            feeds[f"{name}_rows"] = rows.astype(np.float32)
            feeds[f"{name}_mask"] = np.ones(rows.shape[:2], dtype=np.int64) if name == shared.config.injection else \
                np.zeros(rows.shape[:2], dtype=np.int64)
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op = collections.Counter()
    for event in events:
        if event.get("cat") == "Node":
            by_op[event["args"].get("op_name")] += event["dur"]
    total = sum(by_op.values())
    result = {"command": f"python benchmarks/experiments/onnx_vs_torch_forward.py --adapters {args.adapters}",
              "sentences": len(features), "seconds": seconds, "median_seconds": medians,
              "speed_vs_torch": {name: medians["PyTorch engine"] / m for name, m in medians.items()},
              "shared_graph_time_share_by_operator": {op: round(t / total, 3) for op, t in by_op.most_common(8)}}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
