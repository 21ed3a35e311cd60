"""Checks every config dataclass shares, in one place.

NaN passes every `x < 0` and `x <= 0` check, so a NaN or infinite setting would otherwise train an
all-NaN adapter or hang a server: every float field of a config must be a finite number, checked
before the config's own range checks.
"""
from __future__ import annotations

import dataclasses
import math


def number_problems(config) -> list[str]:
    """One problem per float field of the dataclass `config` that is NaN or infinite."""
    problems = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{f.name}={value}: expected a finite number")
    return problems
