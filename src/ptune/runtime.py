"""Where and in what precision the frozen backbone runs: decided once, here, for every command.

`--device auto|cpu|cuda|cuda:N` (auto: CUDA when present) and `--precision auto|fp32|bf16`
(auto: bf16 where the hardware computes it natively, a CUDA GPU with bf16 or a CPU with AVX512-BF16
or AMX; fp32 elsewhere). Training, evaluation, prediction, export and serving take the same choices
and the same defaults.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ptune.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES_HELP = "auto (CUDA when present), cpu, cuda or cuda:N"
PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_PRECISION = "auto"
DEFAULT_DEVICE = "auto"
PRECISION_HELP = ("auto: bf16 where the hardware computes it natively (CUDA with bf16, CPUs with AVX512-BF16 "
                  "or AMX), fp32 elsewhere; fp32; or bf16 (the frozen backbone in bf16, prompts and heads in fp32)")


def device_problems(spec: str) -> list[str]:
    if not isinstance(spec, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", spec):
        return [f"device={spec!r}: expected {DEVICES_HELP}"]
    return []


def resolve_device(spec: str = DEFAULT_DEVICE) -> torch.device:
    """The torch device for `spec`; asking for CUDA on a machine without it is an error, not a fallback."""
    import torch  # here, not at the top: the flag checks above must not import torch

    problems = device_problems(spec)
    if problems:
        raise ConfigError("device", problems)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device", [f"device={spec!r}: this machine has no CUDA device; use --device cpu or auto"])
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ConfigError("device", [f"device={spec!r}: there are {torch.cuda.device_count()} CUDA device(s), "
                                         f"numbered 0 to {torch.cuda.device_count() - 1}"])
    return torch.device(spec)


def precision_problems(precision: str) -> list[str]:
    if precision not in PRECISIONS:
        return [f"precision={precision!r}: expected one of {list(PRECISIONS)}"]
    return []


def resolve_precision(precision: str = DEFAULT_PRECISION, device: torch.device | None = None) -> str:
    """The one place that decides: `bf16` when asked, or for `auto` where bf16 is native on
    `device` (default: the auto device); else `no` (fp32). The value is accelerate's
    `mixed_precision`; everything below takes it as given."""
    problems = precision_problems(precision)
    if problems:
        raise ConfigError("precision", problems)
    if precision == "bf16" or (precision == "auto" and bf16_is_native(device)):
        return "bf16"
    return "no"


def uses_bf16(precision: str = DEFAULT_PRECISION, device: torch.device | None = None) -> bool:
    return resolve_precision(precision, device) == "bf16"


def bf16_is_native(device: torch.device | None = None) -> bool:
    import torch

    device = device or resolve_device("auto")
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def fp32_region(device: torch.device):
    """Autocast off. For the trainable prompt encoder and head: in bf16 the virtual tokens and the
    logits would keep 8 bits of mantissa; both are tiny next to the backbone, so fp32 is cheap."""
    import torch

    return torch.autocast(device.type, enabled=False)
