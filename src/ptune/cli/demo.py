"""`ptune demo`: the offline demo, bundled backbone and bundled sentiment sample."""
from __future__ import annotations

import time

HELP = "offline demo: bundled backbone + bundled sentiment sample"


def add_parser(commands) -> None:
    p = commands.add_parser("demo", help=HELP)
    p.add_argument("--output", default=None, help="run folder (default: runs/demo-<time>)")
    p.add_argument("--epochs", type=float, default=8)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ptune.demo import run_demo

    run_demo(output=args.output or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}", epochs=args.epochs)
    return 0
