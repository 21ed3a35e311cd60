"""The `ptune` command: one module per command in this package, each with its HELP line, its
`add_parser` and its `cmd_*`. Only the chosen command's module builds its flags, so `ptune --help`,
and `ptune predict` on an ONNX export, never import torch."""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from ptune.cli.flags import apply_config_file
from ptune.cli.signals import Terminated, resume_hint, stop_on_sigterm
from ptune.errors import PtuneError

COMMANDS = ("train", "eval", "predict", "push", "export", "multitask", "serve", "demo", "bench", "compare", "ablate",
            "advise")
"""The commands, in help order."""
MODULES = {"eval": "evaluate"}
"""A command whose module is not named after it."""
OWN_CONFIG = ("train", "bench")
"""train's --config is a whole run; bench has commands of its own."""


def command_module(name: str):
    return importlib.import_module(f"ptune.cli.{MODULES.get(name, name)}")


def build_parser(full=COMMANDS) -> argparse.ArgumentParser:
    """Every command, those in `full` with all their flags, the others as names and help lines
    only: a command's flags come from its settings, which may import torch, multi-task training or
    the lab, and `ptune predict` or `ptune --help` should not wait for them."""
    from ptune import __version__

    parser = argparse.ArgumentParser(prog="ptune", description="P-Tuning for encoder transformers.")
    parser.add_argument("--version", action="version", version=f"ptune {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = command_module(name)
        if name not in full:
            commands.add_parser(name, help=module.HELP)
            continue
        module.add_parser(commands)
        if name not in OWN_CONFIG:
            commands.choices[name].add_argument(
                "--config", default=None, metavar="FILE",
                help="this command's options as JSON or YAML, {option: value} (e.g. {\"batch_size\": 32}); "
                     "flags given on the command line win")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(full=argv[:1])
    try:
        apply_config_file(parser, argv)
    except PtuneError as err:
        print(f"ptune {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    if not argv:  # a bare `ptune` asks what there is, it does not start a run
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command in ("train", "multitask", "demo"):
        stop_on_sigterm()
    try:
        return args.func(args)
    except PtuneError as err:
        print(f"ptune {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        hint = resume_hint(args)
        print(f"ptune {args.command}: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}{hint}",
              file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except BrokenPipeError:  # the reader went away (`ptune eval --json - | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # the system refused (disk full, permission, read-only): one line, not a traceback
        where = f" ({err.filename})" if err.filename else ""
        reason = err.strerror or str(err)
        hint = "; free space and run the command again" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        print(f"ptune {args.command}: error: {reason}{where}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
