"""The server's limits and batching settings: one dataclass, validated on construction."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ptune.errors import ConfigError
from ptune.runtime import (
    DEFAULT_DEVICE,
    DEFAULT_PRECISION,
    device_problems,
    precision_problems,
)
from ptune.validation import number_problems


@dataclass
class ServeConfig:
    max_batch_size: int | None = None
    """Most inputs (rows) in one backbone forward; rows of different requests and tasks share it.
    None: sized for the device, 32 on a CPU and 128 on a GPU (see `for_device`)."""
    max_wait_ms: float = 5.0
    """How long the first waiting input may wait for others to fill its batch."""
    batching: bool = True
    """False: one request at a time, its inputs in one forward (the no-batching reference)."""
    max_queue: int = 4096
    """Most inputs waiting; a request that would exceed it is answered 503 with Retry-After."""
    max_inputs_per_request: int = 64
    max_chars_per_input: int = 5000
    max_body_bytes: int = 1_000_000
    body_timeout_seconds: float = 10.0
    """How long a request's body may take to arrive; a client that declares more bytes than it
    sends (or stalls) is answered 408 instead of holding a connection open."""
    header_timeout_seconds: float = 10.0
    """How long a client may take to send a request's line and headers (from its connection, or from
    the previous answer on a kept-alive connection); a slower client is disconnected, so headers
    trickled a byte at a time cannot hold connections open."""
    adapter_dir: str | None = None
    """Every subfolder holding an adapter is served under the subfolder's name; folders added or
    removed while serving are picked up or dropped within `poll_seconds`."""
    poll_seconds: float = 2.0
    retry_after_seconds: int = 1
    runtime: str = "torch"
    """`torch` serves adapter folders with PyTorch; `onnx` serves exports made with `ptune export
    --backbone-graph` with ONNX Runtime, all from one backbone graph (no torch needed at serving time)."""
    precision: str = DEFAULT_PRECISION
    """`bf16` stores the frozen backbone in bf16 (prompt tables and heads stay fp32); `fp32`; or `auto`
    (bf16 where the hardware computes it natively). With `--runtime onnx`: `fp32` (auto) or `int8`
    (ONNX Runtime's dynamic quantisation of the backbone graph, made once beside it)."""
    device: str = DEFAULT_DEVICE
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`."""
    api_key_file: str | None = None
    """A file of bearer tokens, one per line: every request but /healthz must send
    `Authorization: Bearer <key>` (401 otherwise); re-read when it changes. None: no keys asked."""
    cors_origins: str | None = None
    """Comma-separated origins allowed to call the API from a browser (`*` for any); None: CORS off."""
    access_log: bool = True
    """One log line per request: its id (X-Request-ID), method, path, status and time."""

    def __post_init__(self) -> None:
        problems = number_problems(self)
        if problems:
            raise ConfigError("ServeConfig", problems)
        if self.max_batch_size is not None and self.max_batch_size < 1:
            problems.append(f"max_batch_size={self.max_batch_size}: expected >= 1")
        for name in ("max_queue", "max_inputs_per_request", "max_chars_per_input", "max_body_bytes",
                     "retry_after_seconds"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}: expected >= 1")
        if self.max_wait_ms < 0:
            problems.append(f"max_wait_ms={self.max_wait_ms}: expected >= 0")
        for name in ("poll_seconds", "body_timeout_seconds", "header_timeout_seconds"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)}: expected > 0")
        problems += runtime_problems(self.runtime, self.precision, self.device)
        for origin in (self.cors_origins or "").split(","):
            origin = origin.strip()
            if origin and origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                problems.append(f"cors_origins: {origin!r} is not an origin; expected scheme://host[:port] "
                                "(e.g. https://app.example.com) or *")
        if self.max_queue < self.max_inputs_per_request:
            problems.append(f"max_queue={self.max_queue} is below max_inputs_per_request={self.max_inputs_per_request}: "
                            "a full-size request could never be queued")
        if problems:
            raise ConfigError("ServeConfig", problems)

    def for_device(self, device) -> "ServeConfig":
        """This config with its automatic settings decided for `device` (a torch.device): a GPU
        runs a batch of 128 short texts in about the time a CPU runs a few, so it waits for more."""
        if self.max_batch_size is not None:
            return self
        return dataclasses.replace(self, max_batch_size=128 if device.type == "cuda" else 32)


RUNTIMES = ("torch", "onnx")
ONNX_PRECISIONS = ("auto", "fp32", "int8")


def runtime_problems(runtime: str, precision: str, device: str) -> list[str]:
    if runtime not in RUNTIMES:
        return [f"runtime={runtime!r}: expected one of {list(RUNTIMES)}"]
    if runtime == "torch":
        return precision_problems(precision) + device_problems(device)
    problems = []
    if precision not in ONNX_PRECISIONS:
        problems.append(f"precision={precision!r}: the ONNX runtime runs {list(ONNX_PRECISIONS)}")
    if device not in ("auto", "cpu"):
        problems.append(f"device={device!r}: the ONNX runtime serves on the CPU; use --device cpu (or the PyTorch "
                        "runtime for a GPU)")
    return problems
