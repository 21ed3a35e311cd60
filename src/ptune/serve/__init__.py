"""`ptune serve`: many task adapters on one frozen backbone behind one HTTP API, with dynamic
micro-batching across concurrent requests of different tasks."""
from ptune.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(*args, **kwargs):
    from ptune.serve.app import create_app as build

    return build(*args, **kwargs)
