"""The `ptune` command line (see ptune.cli.main)."""
from ptune.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
