"""Start-up and install size of serving from one ONNX graph (`--runtime onnx`) beside PyTorch.

Start-up, medians of N rounds taken in alternation (so machine noise hits every command alike):
`ptune serve` with the SST-2, RTE and CoNLL adapters until /healthz answers, from the adapter folders
(PyTorch) and from their exports (ONNX Runtime); `ptune predict` on one input from an adapter folder
and from its export, for a classifier and a tagger.

Install size: the bytes on disk (the files each installed distribution's RECORD lists) of what the
serving install pulls (ptune without its dependencies, then the serve-onnx extra's packages and what
they need) against the PyTorch install of `ptune[serve]`, read from this environment.

    python benchmarks/onnx_serving.py --adapters benchmarks/results/multitask/joint-seed0 [--rounds 5]
    # writes benchmarks/results/onnx-serving.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "onnx-serving.json"
TASKS = ("sst2", "rte", "conll")
SERVING = ("onnxruntime", "tokenizers", "numpy", "fastapi", "uvicorn", "prometheus_client")
"""The serve-onnx extra (pyproject.toml)."""
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_ready_seconds(flags: list[str]) -> float:
    """Seconds from starting `ptune serve` to its first 200 on /healthz."""
    import httpx

    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "ptune.cli", "serve", "--port", str(port), "--no-access-log",
                               *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"ptune serve {' '.join(flags)} exited with {server.returncode}")
            time.sleep(0.02)
    finally:
        server.terminate()
        server.wait(60)


def command_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - started


def requirement_names(dist: metadata.Distribution) -> list[str]:
    """The distributions `dist` needs here (markers evaluated, extras' requirements left out)."""
    from packaging.requirements import Requirement

    names = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        names.append(requirement.name)
    return names


def closure(names) -> dict[str, metadata.Distribution]:
    found, todo = {}, list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            found[name] = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        todo += requirement_names(found[name])
    return found


def size_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or []:
        path = Path(dist.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total


def install_sizes() -> dict:
    own = sum(p.stat().st_size for p in (ROOT / "src" / "ptune").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    serving = closure(SERVING)
    torch_side = closure(["ptune", "fastapi", "uvicorn", "prometheus_client"])
    serving_mb = (own + sum(size_bytes(d) for d in serving.values())) / 2**20
    torch_mb = (own + sum(size_bytes(d) for n, d in torch_side.items() if n != "ptune")) / 2**20
    largest = sorted(((size_bytes(d) / 2**20, n) for n, d in torch_side.items()), reverse=True)[:6]
    return {"serving_onnx_mb": round(serving_mb, 1), "pytorch_serve_mb": round(torch_mb, 1),
            "ratio": round(serving_mb / torch_mb, 3), "serving_packages": sorted(serving),
            "pytorch_largest_mb": {n: round(mb, 1) for mb, n in largest}, "ptune_sources_mb": round(own / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", required=True, help="folder with sst2/, rte/ and conll/ adapter folders")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    adapters = {name: Path(args.adapters) / name for name in TASKS}
    exports = Path(tempfile.mkdtemp(prefix="onnx-serving-"))
    for name, folder in adapters.items():
        subprocess.run([sys.executable, "-m", "ptune.cli", "export", "--adapter", str(folder), "--output",
                        str(exports / name), "--backbone-graph", str(exports / "backbone")], check=True,
                       capture_output=True, env=ENV)
    named = lambda root: [f"--adapter={n}={root / n if root != 'adapters' else adapters[n]}" for n in TASKS]  # noqa: E731
    predict = [sys.executable, "-m", "ptune.cli", "predict", "--adapter"]
    commands = {
        "ptune serve, 3 adapters, PyTorch (until /healthz answers)": ("serve", named("adapters")),
        "ptune serve, 3 adapters, --runtime onnx (until /healthz answers)": ("serve", ["--runtime", "onnx",
                                                                                      *named(exports)]),
        "ptune predict, classification, adapter folder": ("run", [*predict, str(adapters["sst2"]), "a fine film"]),
        "ptune predict, classification, export": ("run", [*predict, str(exports / "sst2"), "a fine film"]),
        "ptune predict, NER, adapter folder": ("run", [*predict, str(adapters["conll"]), "John lives in Paris"]),
        "ptune predict, NER, export": ("run", [*predict, str(exports / "conll"), "John lives in Paris"]),
    }
    times = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (kind, command) in commands.items():
            times[name].append(round(serve_ready_seconds(command) if kind == "serve" else command_seconds(command), 3))
    result = {"command": f"python benchmarks/onnx_serving.py --adapters {args.adapters} --rounds {args.rounds}",
              "cpus": os.cpu_count(), "seconds": times,
              "median_seconds": {name: statistics.median(t) for name, t in times.items()},
              "install": install_sizes()}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    for name, median in result["median_seconds"].items():
        print(f"{name:<66} median {median:.2f} s  ({', '.join(f'{t:.2f}' for t in times[name])})")
    print(json.dumps(result["install"], indent=2))


if __name__ == "__main__":
    main()
