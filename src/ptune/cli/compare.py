"""`ptune compare`: several methods under one protocol. Its flags and summary live with the lab
(ptune.lab.compare.commands), which this module imports only when the command runs."""
from __future__ import annotations

HELP = "train and evaluate several methods under one protocol (table 6.1)"


def add_parser(commands) -> None:
    from ptune.lab.compare.commands import add_compare_parser

    add_compare_parser(commands, help=HELP)
