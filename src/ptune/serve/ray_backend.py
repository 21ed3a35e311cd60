"""`ptune serve --backend ray`: the same app on Ray Serve, the bank as the replicated unit.

Each replica is one Ray actor holding a whole bank (the frozen backbone and every adapter), so a
request for any task can land on any replica and rows of different tasks still share a forward.
Ray Serve's `@serve.multiplexed` would route by adapter and split batches by adapter, which is the
opposite of what the bank is for; so the unit replicated is the bank, and `@serve.batch` feeds
each replica's forwards with the inputs of concurrent requests, of any tasks. Every replica runs
ptune's FastAPI app (the same endpoints, errors, limits, keys and metrics as `ptune serve`) and its
own watcher on a shared `--adapter-dir`, so an adapter folder added there reaches every replica.

    ptune serve --backend ray --replicas 2 --adapter-dir /models            # a local Ray instance
    ptune serve --backend ray --ray-address auto --max-replicas 8 ...       # an existing cluster
    serve run ptune.serve.ray_backend:app_builder adapter_dir=/models       # Ray's own CLI, KubeRay

A replica's memory is one backbone plus its runtime: replicas are separate processes and, unlike
`--workers`, do not share the backbone's pages (on one machine, prefer `--workers`; Ray is for
several machines, autoscaling and a cluster that is already there).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from dataclasses import dataclass, field

import anyio
import torch
from ray import serve

from ptune.errors import ConfigError
from ptune.serve.batcher import QueueFull, ShuttingDown
from ptune.serve.config import ServeConfig

log = logging.getLogger("ptune.serve")
APP_NAME = "ptune"
MAX_ONGOING_REQUESTS = 256
"""Requests one replica takes at once (Ray's default is 5, which would starve its batches)."""


@dataclass
class ReplicaSpec:
    """What every replica loads: the named adapters, the server settings, the backbone."""

    adapters: dict[str, str] = field(default_factory=dict)
    config: ServeConfig = field(default_factory=ServeConfig)
    model_name: str | None = None
    threads: int | None = None
    log_level: str = "info"


@dataclass
class ScalingConfig:
    replicas: int = 1
    """Replicas to run (the minimum when `max_replicas` is set)."""
    max_replicas: int | None = None
    """Autoscale between `replicas` and this many, by ongoing requests per replica."""
    target_ongoing_requests: float = 16.0
    cpus_per_replica: float = 1.0
    """CPUs Ray reserves for each replica (a replica waits for a node with that many free)."""

    def __post_init__(self) -> None:
        problems = []
        if self.replicas < 1:
            problems.append(f"--replicas {self.replicas}: expected 1 or more")
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            problems.append(f"--max-replicas {self.max_replicas}: expected >= --replicas ({self.replicas})")
        if not self.target_ongoing_requests > 0:
            problems.append(f"--target-ongoing-requests {self.target_ongoing_requests}: expected > 0")
        if not self.cpus_per_replica > 0:
            problems.append(f"cpus_per_replica={self.cpus_per_replica}: expected > 0")
        if problems:
            raise ConfigError("serve flags", problems)

    def deployment_options(self) -> dict:
        options = {"ray_actor_options": {"num_cpus": self.cpus_per_replica},
                   "max_ongoing_requests": MAX_ONGOING_REQUESTS}
        if self.max_replicas is None:
            return {**options, "num_replicas": self.replicas}
        return {**options, "autoscaling_config": {
            "min_replicas": self.replicas, "initial_replicas": self.replicas, "max_replicas": self.max_replicas,
            "target_ongoing_requests": self.target_ongoing_requests}}


def load_bank(spec: ReplicaSpec):
    """The bank `ptune serve` would load for these adapters (the same checks and messages)."""
    from ptune.serve.server import load_bank as serve_bank

    return serve_bank(spec.adapters, spec.config, model_name=spec.model_name, threads=spec.threads)


class RayBatcher:
    """The app's batcher on Ray Serve: each input of a request is one call of the replica's
    `@serve.batch` forward, so inputs of concurrent requests (and tasks) share forwards."""

    def __init__(self, replica: "PtuneReplica", bank, config: ServeConfig, on_batch=None):
        self.replica, self.config = replica, config
        self.inflight = 0
        self.accepting = True
        self.lock = asyncio.Lock()  # batching off: one request at a time
        replica.on_batch = on_batch
        replica.forward.set_max_batch_size(config.max_batch_size)
        replica.forward.set_batch_wait_timeout_s(config.max_wait_ms / 1000)

    @property
    def depth(self) -> int:
        return self.inflight

    async def run(self, entry, features: list[dict]) -> list:
        if not self.accepting:
            raise ShuttingDown()
        if self.inflight + len(features) > self.config.max_queue:
            raise QueueFull()
        self.inflight += len(features)
        try:
            if not self.config.batching:
                async with self.lock:
                    return await self.replica.run_rows([(entry, f) for f in features])
            return list(await asyncio.gather(*(self.replica.forward((entry, f)) for f in features)))
        finally:
            self.inflight -= len(features)

    def stop(self, timeout: float | None = None) -> None:
        self.accepting = False


@serve.deployment(name="ptune-bank")
@serve.ingress()
class PtuneReplica:
    def __init__(self, spec: ReplicaSpec):
        from ptune.serve.logs import show_log

        if spec.threads:
            torch.set_num_threads(spec.threads)
        show_log(spec.log_level)
        self.spec = spec
        self.bank = load_bank(spec)
        self.on_batch = None

    def __serve_build_asgi_app__(self):
        from ptune.serve.app import create_app

        replica = serve.get_replica_context().replica_id.unique_id
        # Ray Serve's proxy sends X-Request-ID back itself (the id it gave, or the client's): once is enough
        return create_app(self.bank, self.spec.config, fixed_names=set(self.spec.adapters), worker=replica,
                          echo_request_id=False,
                          batcher=lambda bank, config, on_batch: RayBatcher(self, bank, config, on_batch))

    async def run_rows(self, rows: list) -> list:
        logits = await anyio.to_thread.run_sync(self.bank.run_by_length, rows)
        if self.on_batch:
            self.on_batch(len(rows), len({id(entry.adapter) for entry, _ in rows}))
        return logits

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def forward(self, rows: list) -> list:
        """(entry, feature) rows of any tasks -> their logits, in one or a few backbone forwards."""
        return await self.run_rows(rows)


def application(spec: ReplicaSpec, scaling: ScalingConfig):
    return PtuneReplica.options(**scaling.deployment_options()).bind(spec)


def app_builder(args: dict):
    """For `serve run ptune.serve.ray_backend:app_builder key=value ...` and KubeRay's RayService
    (`import_path`, `args`): adapter (NAME=DIR, comma-separated), adapter_dir, model, replicas,
    max_replicas, target_ongoing_requests, threads, and any ServeConfig field."""
    import dataclasses

    args = dict(args)
    named = {}
    for item in filter(None, str(args.pop("adapter", "")).split(",")):
        name, _, path = item.partition("=")
        named[name.strip()] = path.strip()
    scaling = ScalingConfig(replicas=int(args.pop("replicas", 1)),
                            max_replicas=int(args["max_replicas"]) if args.get("max_replicas") else None,
                            target_ongoing_requests=float(args.pop("target_ongoing_requests", 16.0)))
    args.pop("max_replicas", None)
    model = args.pop("model", None)
    threads = int(args.pop("threads")) if args.get("threads") else None
    fields = {f.name: f for f in dataclasses.fields(ServeConfig)}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise ConfigError("app_builder args", [f"unknown {unknown}; known: adapter, model, replicas, max_replicas, "
                                               f"target_ongoing_requests, threads, {', '.join(fields)}"])
    config = ServeConfig(**{k: coerce(v, fields[k].type) for k, v in args.items()})
    if not named and not config.adapter_dir:
        raise ConfigError("app_builder args", ["nothing to serve: give adapter=NAME=DIR and/or adapter_dir=D"])
    return application(ReplicaSpec(adapters=named, config=config, model_name=model, threads=threads), scaling)


def coerce(value, kind):
    """A `key=value` string from Ray's CLI -> the ServeConfig field's type."""
    kind = str(kind)
    if not isinstance(value, str):
        return value
    if "bool" in kind:
        return value.lower() in ("1", "true", "yes")
    if "int" in kind and "float" not in kind:
        return int(value)
    if "float" in kind:
        return float(value)
    return value


def local_ray_exposure(environ) -> str:
    """What a local Ray instance opens beyond ptune's own port, in one line. Ray's gRPC servers (GCS,
    raylet, workers, its agents) listen on every interface whatever node address they are given
    (measured with `ss -ltnp` on Ray 2.60: `*:PORT`); Ray's token authentication is what guards them."""
    if str(environ.get("RAY_AUTH_MODE", "")).lower() == "disabled":
        return ("RAY_AUTH_MODE=disabled: the local Ray instance's own ports (GCS, raylet, workers) listen on every "
                "interface WITHOUT authentication; anyone who reaches this machine can run code on it. Unset "
                "RAY_AUTH_MODE, or firewall those ports (README, 'Ray Serve')")
    return ("the local Ray instance's own ports (GCS, raylet, workers) listen on every interface, as Ray's do; "
            "Ray's token authentication guards them. To keep them private, firewall them or run in a container "
            "without published ports (README, 'Ray Serve'); ptune's HTTP port is bound to --host only")


PATIENT_PROXY_CHECKS = {"RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60", "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60"}
"""Ray Serve replaces its HTTP proxy after three unanswered readiness checks of 5 s (health checks: 10 s),
which a machine busy with other jobs causes while the proxy starts; the server then stops answering.
A local instance started by ptune waits a minute instead. Values the user set are kept."""


def patient_proxy_checks(environ) -> dict[str, str]:
    """Set PATIENT_PROXY_CHECKS in `environ` where the user set nothing; return what was set. The local
    instance's processes inherit the environment of the process that starts it, so this must run
    before `ray.init`; a cluster joined by address keeps its own settings."""
    added = {name: value for name, value in PATIENT_PROXY_CHECKS.items() if not environ.get(name)}
    environ.update(added)
    return added


def run_ray(spec: ReplicaSpec, scaling: ScalingConfig, *, host: str, port: int, address: str | None) -> None:
    """Start (or join) Ray, deploy the bank on Ray Serve at http://host:port/, serve until SIGINT/SIGTERM."""
    import ray

    from ptune.serve.logs import show_log

    show_log(spec.log_level)
    load_bank(spec)  # every check `ptune serve` makes, here, before any replica starts
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:  # a local instance, its node address loopback unless the server itself listens wider
        note = local_ray_exposure(os.environ)
        (log.error if "disabled" in note else log.warning)(note)
        if added := patient_proxy_checks(os.environ):
            log.info("Ray Serve's proxy checks wait %s s on a loaded machine (%s)", "/".join(added.values()),
                     ", ".join(f"{name}={value}" for name, value in added.items()))
        ray.init(include_dashboard=False, log_to_driver=True,
                 **({"_node_ip_address": "127.0.0.1"} if loopback else {}))
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda signum, frame: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(application(spec, scaling), name=APP_NAME, route_prefix="/", blocking=False)
        how = (f"{scaling.replicas} replica(s)" if scaling.max_replicas is None else
               f"{scaling.replicas}-{scaling.max_replicas} replicas (autoscaling)")
        log.info("serving on http://%s:%d on Ray Serve with %s; each replica holds the whole bank", host, port, how)
        stop.wait()
        log.info("stopping: replicas finish the requests they hold")
    finally:
        try:
            serve.shutdown()  # every replica drains (graceful_shutdown_timeout_s), then Serve stops
        finally:
            ray.shutdown()
            for s, handler in previous.items():
                signal.signal(s, handler)

