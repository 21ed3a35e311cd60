"""Checks every config dataclass shares, in one place.

NaN passes every `x < 0` and `x <= 0` check, so a NaN or infinite setting would otherwise train an
all-NaN adapter or hang a server: every float field of a config must be a finite number, and
every int field a whole number, checked before the config's own range checks.
"""
from __future__ import annotations

import dataclasses
import math


def number_problems(config) -> list[str]:
    """One problem per number field of the dataclass `config` that is not a number (a string, a
    boolean), NaN, infinite, or (for an int field) not a whole number. A whole float in an int field (JSON and YAML files write 16.0)
    becomes an int in place."""
    problems = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kinds = {part.strip() for part in str(f.type).split("|")}
        numeric = bool(kinds & {"int", "float"}) and not kinds & {"bool", "str", "Any"}
        if numeric and (isinstance(value, (bool, str)) or value is not None and not isinstance(value, (int, float))):
            # A config file (or an edited adapter) can hold "20" or true where a number belongs
            problems.append(f"{f.name}={value!r}: expected a number, not {type(value).__name__}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{f.name}={value}: expected a finite number")
        elif "int" in kinds and "float" not in kinds and isinstance(value, float):
            if value.is_integer():
                object.__setattr__(config, f.name, int(value))  # frozen dataclasses too
            else:
                problems.append(f"{f.name}={value}: expected a whole number")
    return problems
