"""Registration that refuses a duplicate name, for every registry ptune keeps (encoders, tasks,
injections, backbone families): a second `register` under a taken name would silently replace
what users rely on. Re-registering the same class (a module imported again) is allowed."""
from __future__ import annotations

from ptune.errors import ConfigError


def qualified(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def add_unique(registry: dict, name: str, value, *, kind: str, identity=qualified) -> None:
    """`registry[name] = value`, refused when `name` holds something else."""
    if name in registry and identity(registry[name]) != identity(value):
        raise ConfigError(f"register {kind}", [f"a {kind} named {name!r} is already registered "
                                               f"({identity(registry[name])}); choose another name"])
    registry[name] = value
