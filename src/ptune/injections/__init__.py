"""Prompt injections, one module each. Their names (INJECTION_MODULES) import without torch; the
classes and the registry (INJECTIONS) load on first use, every known injection registered."""
import importlib

from ptune.injections.catalog import INJECTION_MODULES

_CLASSES = {"INJECTIONS": "ptune.injections.base", "Injection": "ptune.injections.base",
            "PromptPart": "ptune.injections.base", "Prompts": "ptune.injections.base",
            "register_injection": "ptune.injections.base", "InputInjection": "ptune.injections.input",
            "DeepInjection": "ptune.injections.deep"}

__all__ = ["INJECTION_MODULES", "load_injections", *_CLASSES]


def load_injections() -> None:
    """Registers every known injection (each module registers its class on import)."""
    for module in list(INJECTION_MODULES.values()):
        importlib.import_module(module)


def __getattr__(name: str):
    if name in _CLASSES:
        load_injections()
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'ptune.injections' has no attribute {name!r}")
