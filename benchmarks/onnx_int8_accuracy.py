"""What serving from the ONNX graph costs in accuracy: dev scores of the SST-2, RTE and CoNLL-2003
adapters of the joint run, from the adapter folders (PyTorch, fp32) and from their exports (ONNX
Runtime, fp32 and int8: dynamic quantisation, int8 weights per output channel).

    python benchmarks/onnx_int8_accuracy.py --adapters benchmarks/results/multitask/joint-seed0
    # writes benchmarks/results/onnx-int8-accuracy.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks" / "results" / "onnx-int8-accuracy.json"
DATA = {"sst2": "sst2", "rte": "rte", "conll": "conll2003"}


def main() -> None:
    from ptune.inference.evaluation import evaluate_adapter, evaluate_export

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    exports = Path(tempfile.mkdtemp(prefix="onnx-accuracy-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    rows = []
    for name, folder in DATA.items():
        adapter = Path(args.adapters) / name
        subprocess.run([sys.executable, "-m", "ptune.cli", "export", "--adapter", str(adapter), "--output",
                        str(exports / name), "--backbone-graph", str(exports / "backbone")], check=True,
                       capture_output=True, env=env)
        data = str(Path(args.data) / folder)
        for engine in ("torch-fp32", "onnx-fp32", "onnx-int8"):
            started = time.perf_counter()
            if engine == "torch-fp32":
                result = evaluate_adapter(adapter, data=data, split="dev", precision="fp32", device="cpu")
            else:
                result = evaluate_export(exports / name, data=data, split="dev", precision=engine.split("-")[1])
            metrics = result["metrics"]
            headline = {k: metrics[k] for k in ("accuracy", "f1", "precision", "recall") if k in metrics}
            rows.append({"task": name, "engine": engine, **headline, "seconds": round(time.perf_counter() - started, 1)})
            print(json.dumps(rows[-1]), flush=True)
    OUT.write_text(json.dumps({"command": "python benchmarks/onnx_int8_accuracy.py --adapters " + args.adapters,
                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
