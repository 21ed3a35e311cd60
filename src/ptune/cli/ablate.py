"""`ptune ablate`: ptune's P-tuning with one component changed per row. Its flags and summary live with the lab
(ptune.lab.compare.commands), which this module imports only when the command runs."""
from __future__ import annotations

HELP = "ptune's P-tuning with one component changed per row (table 6.2)"


def add_parser(commands) -> None:
    from ptune.lab.compare.commands import add_ablate_parser

    add_ablate_parser(commands, help=HELP)
