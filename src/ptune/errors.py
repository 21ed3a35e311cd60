"""Errors that carry every problem found, so the user fixes them in one pass."""
from __future__ import annotations


class PtuneError(Exception):
    """Base class: a mistake in the user's input or environment, reported without a traceback."""


class ConfigError(PtuneError, ValueError):
    def __init__(self, where: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid {where}:\n{lines}")


class DataError(PtuneError, ValueError):
    """A malformed data file; the message starts with `file:line:`."""


class ArtifactError(PtuneError):
    """An adapter directory that is missing, incomplete, or built for another backbone."""
