"""Dynamic micro-batching: inputs of concurrent requests, of any tasks, share backbone forwards.

Requests put their rows (one per input) on one bounded queue. A single worker thread takes the
oldest row, waits at most `max_wait_ms` for more to arrive (or until `max_batch_size` rows are
there), runs them as one mixed-task batch on the bank, and resolves each request once all its rows
are done. With batching off it takes one request at a time instead, its inputs in one forward.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

from ptune.engine.entries import BankBase, BankEntry
from ptune.serve.config import ServeConfig


class QueueFull(Exception):
    """The queue cannot take a request's inputs now; the caller answers 503 with Retry-After."""


class ShuttingDown(Exception):
    """The server stopped taking requests; in-flight ones still finish."""


@dataclass
class Job:
    entry: BankEntry
    features: list[dict]
    future: Future = field(default_factory=Future)
    results: list = field(default_factory=list)
    remaining: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.features)
        self.remaining = len(self.features)


class MicroBatcher:
    def __init__(self, bank: BankBase, config: ServeConfig, *,
                 on_batch: Callable[[int, int], None] | None = None):
        """`on_batch(rows, tasks)` is told the size and number of distinct tasks of each forward."""
        self.bank, self.config, self.on_batch = bank, config, on_batch
        self._rows: deque[tuple[Job, int, float]] = deque()  # (job, row in job, time queued)
        self._ready = threading.Condition()
        self._accepting = True
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="ptune-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Inputs waiting for a forward."""
        return len(self._rows)

    def submit(self, entry: BankEntry, features: list[dict]) -> Future:
        """Queue one request's inputs; the future resolves to one logits tensor per input."""
        job = Job(entry, features)
        with self._ready:
            if not self._accepting:
                raise ShuttingDown()
            if len(self._rows) + len(features) > self.config.max_queue:
                raise QueueFull()
            now = time.perf_counter()
            self._rows.extend((job, i, now) for i in range(len(features)))
            self._ready.notify()
        return job.future

    async def run(self, entry: BankEntry, features: list[dict]) -> list:
        """Queue one request's inputs and wait for their logits (raises QueueFull / ShuttingDown)."""
        import asyncio

        return await asyncio.wrap_future(self.submit(entry, features))

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop taking requests, finish every queued input, then end the worker."""
        with self._ready:
            self._accepting = False
            self._stopped = True
            self._ready.notify_all()
        self._thread.join(timeout)

    # ---- the worker ---------------------------------------------------------------------------
    def _take(self) -> list[tuple[Job, int, float]] | None:
        with self._ready:
            while not self._rows:
                if self._stopped:
                    return None
                self._ready.wait()
            if not self.config.batching:
                job = self._rows[0][0]
                taken = []
                while self._rows and self._rows[0][0] is job:
                    taken.append(self._rows.popleft())
                return taken
            deadline = self._rows[0][2] + self.config.max_wait_ms / 1000
            while len(self._rows) < self.config.max_batch_size and not self._stopped:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._ready.wait(left)
            return [self._rows.popleft() for _ in range(min(self.config.max_batch_size, len(self._rows)))]

    def _work(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self._run(taken)

    def _run(self, taken: list[tuple[Job, int, float]]) -> None:
        jobs = {id(job): job for job, _, _ in taken}
        try:
            logits = self.bank.run_by_length([(job.entry, job.features[i]) for job, i, _ in taken])
        except BaseException as err:  # a failed forward fails its requests, never the worker
            for job in jobs.values():
                if not job.future.done():
                    job.future.set_exception(err)
            return
        if self.on_batch:
            self.on_batch(len(taken), len({id(job.entry.adapter) for job, _, _ in taken}))
        for (job, i, _), row in zip(taken, logits):
            job.results[i] = row
            job.remaining -= 1
            if job.remaining == 0 and not job.future.done():
                job.future.set_result(job.results)
