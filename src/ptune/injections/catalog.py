"""The injections' names, without torch: what a config, the resolver and the command line check a
setting against. Each injection's module registers its class on import (ptune.injections.base)."""
from __future__ import annotations

INJECTION_MODULES: dict[str, str] = {"input": "ptune.injections.input", "deep": "ptune.injections.deep"}
"""Injection name -> the module that defines it; `register_injection` adds the ones users write."""
