"""Prometheus metrics of one server (its own registry, so two apps in one process never mix)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServerMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ptune_requests", "Requests answered with predictions", ["task"], registry=r)
        self.inputs = Counter("ptune_inputs", "Inputs predicted", ["task"], registry=r)
        self.errors = Counter("ptune_errors", "Requests refused or failed, by kind", ["kind"], registry=r)
        self.latency = Histogram("ptune_request_latency_seconds", "Time from request to answer", ["task"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("ptune_batch_size", "Inputs per backbone forward", buckets=BATCH_BUCKETS, registry=r)
        self.batch_tasks = Histogram("ptune_batch_tasks", "Distinct tasks per backbone forward",
                                     buckets=(1, 2, 3, 4, 8, 16), registry=r)
        self.queue = Gauge("ptune_queue_depth", "Inputs waiting for a forward", registry=r)
        self.tasks = Gauge("ptune_tasks_loaded", "Tasks in the bank", registry=r)
        self.worker_restarts = Gauge("ptune_worker_restarts", "Workers that died after serving and were started "
                                     "again (under --workers; 0 otherwise)", registry=r)

    def observe_request(self, task: str, inputs: int, seconds: float) -> None:
        self.requests.labels(task=task).inc()
        self.inputs.labels(task=task).inc(inputs)
        self.latency.labels(task=task).observe(seconds)

    def observe_batch(self, rows: int, tasks: int) -> None:
        self.batch_size.observe(rows)
        self.batch_tasks.observe(tasks)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
