"""`ptune serve --workers N`: N processes answering on one port, with the frozen backbone's
weights in memory once.

The first process loads and checks the bank as a single server would (fingerprints, names), moves
the backbone's weights into shared memory (`Tensor.share_memory_`), binds the listening socket,
starts N - 1 more workers (`spawn`, not `fork`: OpenMP, which torch computes with, hangs in a
forked child that uses more than one thread), and serves as worker 0 itself. Each worker maps the same weights (no copy), builds its own
engine, micro-batcher and adapter-folder watcher around them, and accepts connections from the
shared socket; the kernel spreads connections over the workers. Adapters are small and loaded by
every worker from the same folders, so a folder added to `--adapter-dir` reaches every worker
within `--poll-seconds`. A worker that dies after it began serving is started again (its own
in-flight requests fail, no other; restarts are counted in /metrics); one that fails while starting
stops the server with its error. SIGINT/SIGTERM stops them all gracefully (requests in flight finish).

Each worker's /metrics and /healthz describe that worker (/healthz names its pid): scrape them per
worker, or add them up.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
from dataclasses import dataclass

from ptune.errors import ConfigError, PtuneError
from ptune.serve.config import ServeConfig

log = logging.getLogger("ptune.serve")


@dataclass
class WorkerSpec:
    """Everything a worker needs besides the shared weights."""

    adapters: dict[str, str]
    config: ServeConfig
    fixed_names: set[str]
    backbone_config: object
    tokenizer: object
    backbone_name: str | None
    fingerprint: str
    threads: int
    log_level: str = "info"
    graph_folder: str | None = None
    """--runtime onnx: the backbone graph folder each worker opens (ONNX Runtime holds its own copy)."""


def threads_per_worker(workers: int, threads: int | None) -> int:
    """torch threads in each worker: `--threads`, or the cores shared out (at least one each)."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)


def check_workers(workers: int, bank) -> None:
    if workers < 1:
        raise ConfigError("serve flags", [f"--workers {workers}: expected 1 or more"])
    if workers > 1 and bank.device.type != "cpu":
        raise ConfigError("serve flags", [f"--workers {workers} with the backbone on {bank.device}: one worker "
                                          "per GPU (the device runs one forward at a time); use --workers 1, or "
                                          "--device cpu for CPU workers"])


def share_weights(backbone) -> dict:
    """The backbone's state in shared memory (in place: the parent's model uses it too)."""
    state = backbone.state_dict()
    for tensor in state.values():
        tensor.share_memory_()
    return state


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError("serve flags", [f"cannot listen on {host}:{port} ({err.strerror}); choose another --port"]) \
            from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def plain_config(config):
    """The backbone's config as transformers knows it: ptune's prompt-aware attention (installed in
    the parent for deep prompts) is a registration a fresh process has not made yet; each worker's
    engine installs it again."""
    import copy

    from ptune.injections.deep_attention import INNER, NAME

    config = copy.deepcopy(config)
    if getattr(config, "_attn_implementation", None) == NAME:
        config._attn_implementation_internal = getattr(config, INNER, "sdpa")
    if hasattr(config, INNER):
        delattr(config, INNER)
    return config




def run_workers(bank, adapters: dict[str, str], config: ServeConfig, *, host: str, port: int, workers: int,
                threads: int | None, fixed_names: set[str], log_level: str = "info") -> None:
    """Serve `bank`'s backbone from `workers` processes until SIGINT/SIGTERM: this process is worker 0
    (it holds the bank already, so no runtime is spent on supervising alone), the others are spawned."""
    import threading

    import uvicorn

    from ptune.serve.app import create_app
    from ptune.serve.protocol import uvicorn_settings

    check_workers(workers, bank)
    onnx = bank.runtime == "onnx"
    state = None if onnx else share_weights(bank.backbone)
    sock = listening_socket(host, port)
    spec = WorkerSpec(adapters=dict(adapters), config=config, fixed_names=set(fixed_names),
                      backbone_config=None if onnx else plain_config(bank.backbone.config),
                      tokenizer=None if onnx else bank.tokenizer,
                      backbone_name=bank.backbone_name, fingerprint=bank.fingerprint,
                      threads=threads_per_worker(workers, threads), log_level=log_level,
                      graph_folder=str(bank.engine.folder) if onnx else None)
    if onnx:
        import multiprocessing as mp

        bank.engine.use_threads(spec.threads)  # worker 0 shares the cores like the others
    else:
        import torch
        import torch.multiprocessing as mp

        torch.set_num_threads(spec.threads)
    context = mp.get_context("spawn")
    ready: dict[int, object] = {}
    restarts = context.Value("i", 0)  # shared: every worker's /metrics reports it
    failure: list[str] = []
    done = threading.Event()

    def start(index: int):
        ready[index] = context.Event()  # set by the worker once it is about to accept connections
        process = context.Process(target=worker_main, args=(spec, sock, state, index, ready[index], restarts,
                                                            os.getpid()),
                                  name=f"ptune-worker-{index}", daemon=False)
        process.start()
        return process

    processes = {i: start(i) for i in range(1, workers)}
    app = create_app(bank, config, fixed_names=fixed_names, worker=0, worker_restarts=lambda: restarts.value)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, **uvicorn_settings(config)))

    def supervise() -> None:
        while not done.wait(0.2):
            for index, process in list(processes.items()):
                if process.is_alive() or done.is_set():
                    continue
                if not ready[index].is_set():  # it never got as far as serving: its error is a start-up one
                    failure.append(f"worker {index} failed to start (exit code {process.exitcode}); its error is "
                                   "above. The other workers are stopped")
                    server.should_exit = True
                    return
                # A worker that served and died (killed, out of memory): its connections' requests fail,
                # the others' do not; a fresh one takes its place.
                with restarts.get_lock():
                    restarts.value += 1
                log.error("worker %d (pid %s) exited with %s after serving; starting it again (restart %d)",
                          index, process.pid, process.exitcode, restarts.value)
                processes[index] = start(index)

    supervisor = threading.Thread(target=supervise, name="ptune-supervisor", daemon=True)
    supervisor.start()
    if onnx:
        log.info("serving on http://%s:%d with %d workers, %d ONNX Runtime thread(s) each", host, port, workers,
                 spec.threads)
    else:
        log.info("serving on http://%s:%d with %d workers, %d torch thread(s) each, the backbone shared (%.1f MB)",
                 host, port, workers, spec.threads, sum(t.numel() * t.element_size() for t in state.values()) / 2**20)
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal to the handler it found: make that
    # one a no-op, so this process lives on to stop the other workers instead of dying mid-way.
    previous = {s: signal.signal(s, lambda signum, frame: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])  # worker 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        done.set()
        supervisor.join(5)
        for process in processes.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)  # each worker's uvicorn drains its requests
        for process in processes.values():
            process.join(60)
        sock.close()
    if failure:
        raise PtuneError(failure[0])


def worker_bank(spec: WorkerSpec, state: dict | None):
    """The worker's bank: the shared weights in a backbone of its own, or (ONNX) the graph folder."""
    if spec.graph_folder is not None:
        from ptune.inference.onnx_bank import OnnxBank

        return OnnxBank(spec.graph_folder, precision=spec.config.precision, threads=spec.threads)
    import torch
    from transformers import AutoModel

    from ptune.engine.backbone import freeze
    from ptune.engine.bank import AdapterBank

    torch.set_num_threads(spec.threads)
    backbone = AutoModel.from_config(spec.backbone_config)
    backbone.load_state_dict(state, assign=True)  # the shared tensors themselves, not copies
    freeze(backbone)
    backbone.eval()
    return AdapterBank(backbone, spec.tokenizer, backbone_name=spec.backbone_name, precision=spec.config.precision,
                       device="cpu", fingerprint=spec.fingerprint)


def worker_main(spec: WorkerSpec, sock: socket.socket, state: dict | None, index: int, ready=None,
                restarts=None, supervisor: int | None = None) -> None:
    """One worker: its bank, the app, uvicorn on the shared socket."""
    import uvicorn

    from ptune.serve.app import create_app
    from ptune.serve.logs import show_log
    from ptune.serve.protocol import uvicorn_settings

    show_log(spec.log_level)
    bank = worker_bank(spec, state)
    for name, path in spec.adapters.items():
        bank.add(name, path)  # --adapter-dir's folders: the worker's watcher loads them as it starts
    app = create_app(bank, spec.config, fixed_names=spec.fixed_names, worker=index,
                     worker_restarts=(lambda: restarts.value) if restarts is not None else None)
    server = uvicorn.Server(uvicorn.Config(app, log_level=spec.log_level, **uvicorn_settings(spec.config)))
    stop_when_orphaned(server, index, supervisor or os.getppid())
    if ready is not None:
        ready.set()
    server.run(sockets=[sock])


ORPHAN_POLL_SECONDS = 1.0


def stop_when_orphaned(server, index: int, parent: int) -> None:
    """A worker whose supervisor (`parent`, the pid that started it: known before the worker runs,
    so one that died during the worker's start-up is caught too) died without stopping it (SIGKILL,
    out of memory) drains and exits instead of serving on, unsupervised, on the port the next
    `ptune serve` wants."""
    import threading

    def watch() -> None:
        while not server.should_exit:
            if os.getppid() != parent:
                log.warning("worker %d: the serving process (pid %d) is gone; stopping", index, parent)
                server.should_exit = True
                return
            time.sleep(ORPHAN_POLL_SECONDS)

    threading.Thread(target=watch, name="ptune-orphan-watch", daemon=True).start()
