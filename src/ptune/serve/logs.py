"""ptune's own log lines while serving, in every process that serves (one, workers, Ray replicas)."""
from __future__ import annotations

import logging


def show_log(level: str) -> None:
    """ptune's own log lines (tasks added, removed, reloaded; failures) beside uvicorn's, on stderr."""
    logger = logging.getLogger("ptune")
    if not any(getattr(h, "ptune_serve", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        handler.ptune_serve = True
        logger.addHandler(handler)
    logger.setLevel(level.upper())
