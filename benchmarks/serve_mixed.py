"""Protocol `serve-mixed` (../shared/BENCHMARK.md): one `ptune serve` holding the SST-2, RTE and
CoNLL-2003 adapters on one backbone, under a fixed mixed workload on loopback, against (a) the same
server with micro-batching off and (b) one single-task server process per task.

Workload: a bounded number of requests (default 2,000), drawn once with a fixed seed: 60% SST-2
dev sentences, 20% RTE dev pairs, 20% CoNLL-2003 dev sentences as plain text; 1-8 inputs per
request. Each configuration sends all of them at concurrency 1, 8 and 32 (a time limit per run
bounds the slow ones). Every answer is checked against the adapter run alone in this process
(ptune.inference.Predictor): labels, tags and entity spans equal, probabilities within 1e-4.

    python benchmarks/serve_mixed.py --adapters benchmarks/results/multitask/joint-seed0 \
        --output benchmarks/results/serve-mixed.json

The `onnx` and `onnx-int8` configurations serve the same adapters with `--runtime onnx`, exported
once (`ptune export --backbone-graph`) into a temporary folder; their efficiency is against the
ONNX engine offline, and `agreement` compares every answer of each runtime with the reference.

Writes the table (throughput in inputs/s, latency percentiles, errors, wrong answers, server
memory) as JSON and prints it as Markdown.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the answer-agreement check the tests use

from ptune.data.conll import read_conll  # noqa: E402
from ptune.data.sources import load_examples  # noqa: E402
from ptune.inference.predictor import Predictor  # noqa: E402
from agreement import answers_agree  # noqa: E402

MIX = (("sst2", 0.6), ("rte", 0.2), ("conll", 0.2))


def workload(data: Path, requests: int, seed: int) -> list[dict]:
    sst2 = [e.text for e in load_examples(data / "sst2", split="dev")]
    rte = [[e.text, e.text_pair] for e in load_examples(data / "rte", split="dev")]
    conll = [" ".join(s.words) for s in read_conll(data / "conll2003" / "dev.txt")]
    pools = {"sst2": sst2, "rte": rte, "conll": conll}
    rng = random.Random(seed)
    out = []
    for _ in range(requests):
        task = rng.choices([t for t, _ in MIX], weights=[w for _, w in MIX])[0]
        out.append({"task": task, "inputs": rng.sample(pools[task], rng.randint(1, 8))})
    return out


def reference_answers(adapters: dict[str, Path], requests: list[dict], precision: str,
                      device: str = "cpu") -> list[list[dict]]:
    """Each request's answers from its adapter run alone (single-task Predictor, batch of one request)."""
    predictors = {name: Predictor(path, precision=precision, device=device) for name, path in adapters.items()}
    return [predictors[r["task"]].predict([tuple(x) if isinstance(x, list) else x for x in r["inputs"]])
            for r in requests]


def export_adapters(adapters: dict[str, Path], folder: Path) -> tuple[dict[str, Path], dict]:
    """Each adapter exported against one backbone graph in `folder` (ptune export --backbone-graph);
    returns the export folders and the seconds each export took."""
    exports, seconds = {}, {}
    for name, path in adapters.items():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ptune.cli", "export", "--adapter", str(path), "--output",
                        str(folder / name), "--backbone-graph", str(folder / "backbone")], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        exports[name], seconds[name] = folder / name, time.perf_counter() - started
    return exports, seconds


def bank_for(adapters: dict[str, Path], *, runtime: str, precision: str, device: str):
    if runtime == "onnx":
        from ptune.inference.onnx_bank import OnnxBank

        return OnnxBank.from_exports({n: str(p) for n, p in adapters.items()}, precision=precision)
    from ptune.engine.bank import AdapterBank

    return AdapterBank.from_adapters({n: str(p) for n, p in adapters.items()}, precision=precision, device=device)


def largest_probability_difference(answers: list[dict], reference: list[dict]) -> float:
    """Over every classification answer: the largest |probability difference| of any label; over
    every entity found in both: the largest |score difference|."""
    worst = 0.0
    for a, b in zip(answers, reference):
        if "probabilities" in a:
            worst = max(worst, max(abs(a["probabilities"][k] - b["probabilities"][k]) for k in a["probabilities"]))
        for x, y in zip(a.get("entities", []), b.get("entities", [])):
            if (x["type"], x["words"]) == (y["type"], y["words"]):
                worst = max(worst, abs(x["score"] - y["score"]))
    return worst


def agreement(bank, requests: list[dict], expected: list[list[dict]]) -> dict:
    """Every input's answer from `bank` (batches of 32) against the reference: labels and entity
    lists identical, the largest probability difference."""
    answers = bank.predict([(r["task"], tuple(x) if isinstance(x, list) else x) for r in requests for x in r["inputs"]],
                           batch_size=32)
    reference = [answer for answers_of in expected for answer in answers_of]
    same = [a.get("label", a.get("entities")) == b.get("label", b.get("entities")) if "entities" not in a
            else [(e["type"], e["words"]) for e in a["entities"]] == [(e["type"], e["words"]) for e in b["entities"]]
            for a, b in zip(answers, reference)]
    return {"inputs": len(same), "answers_identical": sum(same) / len(same),
            "largest_probability_difference": largest_probability_difference(answers, reference),
            "agree_within_1e-4": sum(answers_agree(a, b) for a, b in zip(answers, reference)) / len(same)}


def offline_rate(adapters: dict[str, Path], requests: list[dict], *, batch_size: int, precision: str,
                 device: str, runtime: str = "torch") -> dict:
    """The same engine predicting the same inputs in this process, no HTTP, as the server works:
    each request's inputs tokenized together, batches of `batch_size` inputs in arrival order run
    by length (AdapterBank.run_by_length), each request decoded; inputs/s and CPU ms per input."""
    import resource

    bank = bank_for(adapters, runtime=runtime, precision=precision, device=device)

    def answer(chosen: list[dict]) -> None:
        prepared, rows = [], []
        for request in chosen:
            entry = bank.get(request["task"])
            examples = bank.examples(entry, request["inputs"])
            features = bank.features(entry, examples)
            prepared.append((entry, examples, features, len(rows)))
            rows += [(entry, f) for f in features]
        logits = []
        for start in range(0, len(rows), batch_size):
            logits += bank.run_by_length(rows[start:start + batch_size])
        for entry, examples, features, first in prepared:
            bank.decode(entry, logits[first:first + len(features)], examples, features)

    answer(requests[:8])  # warm-up
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    answer(requests)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    inputs = sum(len(r["inputs"]) for r in requests)
    cpu_seconds = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return {"inputs": inputs, "seconds": seconds, "inputs_per_s": inputs / seconds,
            "cpu_ms_per_input": 1000 * cpu_seconds / inputs, "batch_size": batch_size}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A `ptune serve` subprocess on loopback."""

    def __init__(self, adapters: dict[str, Path], *flags: str):
        self.port = free_port()
        command = [sys.executable, "-m", "ptune.cli", "serve", "--port", str(self.port), *flags]
        for name, path in adapters.items():
            command += ["--adapter", f"{name}={path}"]
        # A file, not a pipe: a server's log lines must never block it on a full pipe.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log,
                                        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        deadline = time.time() + 300  # a Ray backend starts its cluster first
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"server did not start: {self.log.read().decode()[-2000:]}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list:
        parent = psutil.Process(self.process.pid)
        return [parent, *(p for p in parent.children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline()))]

    def rss_mb(self) -> float:
        """Resident memory of the server and its workers (pages they share are counted in each)."""
        return sum(p.memory_info().rss for p in self.processes()) / 2**20

    def pss_mb(self) -> float:
        """Proportional set size: each shared page split among the processes mapping it, so the
        backbone shared by --workers counts once."""
        return sum(p.memory_full_info().pss for p in self.processes()) / 2**20

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server and every process under it so far."""
        total = 0.0
        for p in self.processes():
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(150)


async def load(urls: dict[str, str], requests: list[dict], expected: list[list[dict]], *, concurrency: int,
               time_limit: float) -> dict:
    """Send `requests` (each to urls[task]) with `concurrency` workers; latency per request."""
    latencies, errors, wrong, inputs_done, answers = [], 0, 0, 0, {}
    bodies = [json.dumps(r).encode() for r in requests]  # encoded once, before the clock starts
    headers = {"content-type": "application/json"}
    queue = list(range(len(requests)))
    queue.reverse()
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, inputs_done
        while queue and time.perf_counter() - started < time_limit:
            i = queue.pop()
            request = requests[i]
            tick = time.perf_counter()
            try:
                answer = await client.post(urls[request["task"]] + "/v1/predict", content=bodies[i], headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - tick)
            if answer.status_code != 200:
                errors += 1
                continue
            inputs_done += len(request["inputs"])
            answers[i] = answer.content  # checked after the clock stops: the check costs client CPU

    def disagreements() -> list[dict]:
        found = []
        for i, content in answers.items():
            got = json.loads(content)["predictions"]
            for j, (a, b) in enumerate(zip(got, expected[i])):
                if not answers_agree(a, b):
                    found.append({"request": i, "task": requests[i]["task"], "input": j, "served": a, "alone": b})
        return found

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    differing = disagreements()
    wrong = len({d["request"] for d in differing})

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "inputs": inputs_done, "seconds": seconds,
            "inputs_per_s": inputs_done / seconds, "p50_ms": percentile(0.50), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99), "mean_ms": statistics.fmean(latencies) * 1000 if latencies else None,
            "errors": errors, "wrong_answers": wrong, "complete": len(latencies) + errors == len(requests),
            "differing_inputs": differing[:20]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", required=True, help="folder with sst2/, rte/ and conll/ adapter folders")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--time-limit", type=float, default=240, help="seconds per configuration and concurrency")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="the servers' and the reference's")
    parser.add_argument("--output", required=True, help="results JSON")
    parser.add_argument("--worker-threads", type=int, default=None, help="--threads for the workers configuration")
    parser.add_argument("--device", default="cpu", help="the servers' and the reference's device (cpu, cuda, cuda:N)")
    parser.add_argument("--configurations", default="batched,unbatched,per-task,workers",
                        help="which to run: batched (one server), unbatched, per-task (one process per task), "
                             "workers (one server, --workers 2), ray1 / ray2 (--backend ray, 1 or 2 replicas), "
                             "onnx / onnx-int8 (one server, --runtime onnx, fp32 or int8), onnx-workers")
    parser.add_argument("--exports", default=None,
                        help="folder for the ONNX exports of the onnx configurations (default: a temporary one)")
    args = parser.parse_args()
    adapters = {name: Path(args.adapters) / name for name, _ in MIX}
    requests = workload(Path(args.data), args.requests, args.seed)
    print(f"{len(requests)} requests, {sum(len(r['inputs']) for r in requests)} inputs; computing reference answers",
          file=sys.stderr)
    expected = reference_answers(adapters, requests, args.precision, args.device)
    levels = [int(c) for c in args.concurrency.split(",")]
    batching = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms),
                "--precision", args.precision, "--device", args.device, "--no-access-log"]
    known = {
        "batched": ("one server, micro-batching", lambda: [Server(adapters, *batching)]),
        "unbatched": ("one server, batching off", lambda: [Server(adapters, "--no-batching", "--precision",
                                                                  args.precision, "--device", args.device,
                                                                  "--no-access-log")]),
        "per-task": ("one process per task", lambda: [Server({name: path}, *batching) for name, path in adapters.items()]),
        "workers": ("one server, 2 workers" + (f", {args.worker_threads} threads each" if args.worker_threads else ""),
                    lambda: [Server(adapters, *batching, "--workers", "2",
                                    *(["--threads", str(args.worker_threads)] if args.worker_threads else []))]),
        # Ray Serve on this machine: its processes (GCS, raylet, proxy, controller) count in memory and CPU.
        "ray1": ("Ray Serve, 1 replica", lambda: [Server(adapters, *batching, "--backend", "ray", "--replicas", "1",
                                                         "--threads", str(os.cpu_count() or 1))]),
        "ray2": ("Ray Serve, 2 replicas", lambda: [Server(adapters, *batching, "--backend", "ray", "--replicas", "2",
                                                          "--threads", str(max(1, (os.cpu_count() or 2) // 2)))]),
    }
    chosen = [c.strip() for c in args.configurations.split(",") if c.strip()]
    onnx_chosen = [c for c in chosen if c.startswith("onnx")]
    exports, export_seconds = {}, {}
    if onnx_chosen:
        export_folder = Path(args.exports or tempfile.mkdtemp(prefix="serve-mixed-onnx-"))
        exports, export_seconds = export_adapters(adapters, export_folder)
        print(f"exported in {json.dumps(export_seconds)} s", file=sys.stderr)
    onnx_flags = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms),
                  "--runtime", "onnx", "--no-access-log"]
    known.update({
        "onnx": ("one server, --runtime onnx, fp32", lambda: [Server(exports, *onnx_flags, "--precision", "fp32")]),
        "onnx-int8": ("one server, --runtime onnx, int8", lambda: [Server(exports, *onnx_flags, "--precision", "int8")]),
        "onnx-workers": ("one server, --runtime onnx, fp32, 2 workers",
                         lambda: [Server(exports, *onnx_flags, "--precision", "fp32", "--workers", "2")]),
    })
    runtime_of = {"onnx": ("onnx", "fp32"), "onnx-int8": ("onnx", "int8"), "onnx-workers": ("onnx", "fp32")}
    if not chosen or set(chosen) - set(known):
        parser.error(f"--configurations: choose from {', '.join(known)}")
    configurations = dict(known[c] for c in chosen)
    offline = offline_rate(adapters, requests, batch_size=args.max_batch_size, precision=args.precision,
                           device=args.device)
    print(f"offline: {json.dumps(offline)}", file=sys.stderr)
    offline_by = {("torch", args.precision): offline}
    agreements = {}
    for name in onnx_chosen:
        key = runtime_of[name]
        if key not in offline_by:
            offline_by[key] = offline_rate(exports, requests, batch_size=args.max_batch_size, precision=key[1],
                                           device="cpu", runtime="onnx")
            agreements[f"onnx-{key[1]}"] = agreement(bank_for(exports, runtime="onnx", precision=key[1], device="cpu"),
                                                     requests, expected)
            print(f"offline {key}: {json.dumps(offline_by[key])}; agreement {json.dumps(agreements[f'onnx-{key[1]}'])}",
                  file=sys.stderr)
    if onnx_chosen:
        agreements[f"torch-{args.precision}"] = agreement(
            bank_for(adapters, runtime="torch", precision=args.precision, device=args.device), requests, expected)
    rows = []
    for name, (label, start) in zip(chosen, configurations.items()):
        baseline = offline_by[runtime_of.get(name, ("torch", args.precision))]
        servers = start()
        try:
            urls = {name: (servers[0] if len(servers) == 1 else servers[i]).url for i, (name, _) in enumerate(MIX)}
            memory = sum(s.rss_mb() for s in servers)
            for concurrency in levels:
                import resource

                server_cpu = sum(s.cpu_seconds() for s in servers)
                client_cpu = resource.getrusage(resource.RUSAGE_SELF)
                result = asyncio.run(load(urls, requests, expected, concurrency=concurrency, time_limit=args.time_limit))
                client_after = resource.getrusage(resource.RUSAGE_SELF)
                answered = max(result["inputs"], 1)
                result.update(
                    efficiency=result["inputs_per_s"] / baseline["inputs_per_s"],
                    server_cpu_ms_per_input=1000 * (sum(s.cpu_seconds() for s in servers) - server_cpu) / answered,
                    client_cpu_ms_per_input=1000 * ((client_after.ru_utime - client_cpu.ru_utime)
                                                    + (client_after.ru_stime - client_cpu.ru_stime)) / answered)
                result.update(configuration=label, concurrency=concurrency, processes=sum(len(s.processes()) for s in servers),
                              server_rss_mb_at_start=memory, server_rss_mb_after=sum(s.rss_mb() for s in servers),
                              server_pss_mb_after=sum(s.pss_mb() for s in servers))
                rows.append(result)
                print(json.dumps(result), file=sys.stderr)
        finally:
            for server in servers:
                server.stop()
    import torch

    report = {"protocol": "serve-mixed", "requests": len(requests), "mix": dict(MIX), "seed": args.seed,
              "max_batch_size": args.max_batch_size, "max_wait_ms": args.max_wait_ms, "adapters": str(args.adapters),
              "precision": args.precision, "device": args.device,
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "offline": offline, "rows": rows,
              "offline_by_runtime": {f"{k[0]}-{k[1]}": v for k, v in offline_by.items()},
              "agreement": agreements, "export_seconds": export_seconds}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report: dict) -> str:
    offline = report.get("offline")
    lines = ["| configuration | concurrency | inputs/s | efficiency | server CPU ms/input | client CPU ms/input | "
             "p50 ms | p95 ms | p99 ms | errors | wrong answers | requests done | server RSS MB | server PSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    nan = float("nan")
    for r in report["rows"]:
        lines.append(f"| {r['configuration']} | {r['concurrency']} | {r['inputs_per_s']:.1f} | "
                     f"{r.get('efficiency', nan):.2f} | {r.get('server_cpu_ms_per_input', nan):.1f} | "
                     f"{r.get('client_cpu_ms_per_input', nan):.1f} | {r['p50_ms']:.0f} | "
                     f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | {r['wrong_answers']} | "
                     f"{r['requests']}/{report['requests']} | {r['server_rss_mb_after']:.0f} | "
                     f"{r.get('server_pss_mb_after', nan):.0f} |")
    for name, offline in (report.get("offline_by_runtime") or {"torch": offline} if offline else {}).items():
        lines.append(f"| offline {name} (same engine, same inputs, batches of {offline['batch_size']}) | — | "
                     f"{offline['inputs_per_s']:.1f} | 1.00 | {offline['cpu_ms_per_input']:.1f} | — | — | — | — | — | — | "
                     f"{offline['inputs']} inputs | — | — |")
    if report.get("agreement"):
        lines += ["", "| engine | inputs | answers identical (labels, entity spans) | within 1e-4 | largest probability "
                      "difference |", "|---|---|---|---|---|"]
        for name, a in report["agreement"].items():
            lines.append(f"| {name} | {a['inputs']} | {a['answers_identical']:.4f} | {a['agree_within_1e-4']:.4f} | "
                         f"{a['largest_probability_difference']:.2e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
