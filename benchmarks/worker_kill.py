"""A worker killed under load: `ptune serve --workers 2` on the joint run's three adapters (the bundled
MiniLM), a steady load of mixed requests from `--concurrency` clients (a new connection each, so
the kernel spreads them over both workers), and worker 1 killed with SIGKILL mid-way. Counts the
requests answered and failed before, around and after the kill, and the time until a new worker 1
answers; writes benchmarks/results/worker-kill.json.

    python benchmarks/worker_kill.py --adapters benchmarks/results/multitask/joint-seed0
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {"sst2": ["a gripping, beautifully shot film", "two hours I will never get back"],
         "rte": [["A man is sleeping on a bench.", "Someone is resting."]],
         "conll": ["Angela Merkel met Emmanuel Macron in Paris."]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def health(url: str) -> dict:
    with httpx.Client(timeout=10) as client:  # a fresh connection: any worker may take it
        return client.get(url + "/healthz").json()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", required=True, help="a folder of adapter folders (one per task)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--before", type=float, default=10.0, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=30.0, help="seconds of load after the kill")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "worker-kill.json"))
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "ptune.cli", "serve", "--workers", "2", "--port", str(port),
                               "--adapter-dir", args.adapters, "--no-access-log"], stderr=subprocess.PIPE, text=True)
    try:
        pids, deadline = {}, time.monotonic() + 300
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                state = health(url)
                pids[state["worker"]] = state["pid"]
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read()[-2000:]
                time.sleep(0.5)
        events, stop = [], threading.Event()

        def client(index: int) -> None:
            tasks = list(TEXTS)
            n = index
            while not stop.is_set():
                task = tasks[n % len(tasks)]
                n += 1
                started = time.monotonic()
                try:
                    with httpx.Client(timeout=60) as http:
                        status = http.post(url + "/v1/predict", json={"task": task, "inputs": TEXTS[task]}).status_code
                except httpx.HTTPError as err:
                    status = type(err).__name__
                events.append((started, time.monotonic(), status))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
        for thread in threads:
            thread.start()
        time.sleep(args.before)
        killed_at = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        replaced_at = None
        while time.monotonic() - killed_at < args.after:
            if replaced_at is None:
                try:
                    state = health(url)
                    if state["worker"] == 1 and state["pid"] != pids[1]:
                        replaced_at = time.monotonic()
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(120)
        with httpx.Client(timeout=10) as http:
            metrics = http.get(url + "/metrics").text
        restarts = next((float(line.split()[-1]) for line in metrics.splitlines()
                         if line.startswith("ptune_worker_restarts ")), None)
        alive = server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(120)
        except subprocess.TimeoutExpired:
            server.kill()

    def count(rows):
        return {"answered": sum(s == 200 for _, _, s in rows), "failed": sum(s != 200 for _, _, s in rows),
                "failures": sorted({str(s) for _, _, s in rows if s != 200})}

    before = [e for e in events if e[1] < killed_at]
    around = [e for e in events if e[0] < killed_at <= e[1]]
    after = [e for e in events if e[0] >= killed_at]
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "workers": 2, "concurrency": args.concurrency, "seconds_before_kill": args.before,
              "seconds_after_kill": args.after, "in_flight_at_the_kill": count(around), "before": count(before),
              "after": count(after), "replacement_answering_after_s": None if replaced_at is None
              else round(replaced_at - killed_at, 1), "server_alive": alive, "ptune_worker_restarts": restarts}
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if alive and replaced_at is not None else 1


if __name__ == "__main__":
    sys.exit(main())
