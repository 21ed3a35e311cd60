"""`ptune multitask`: several tasks trained jointly on one frozen backbone, one adapter each."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from ptune.cli.flags import add_dataclass_flags, given
from ptune.errors import ConfigError

HELP = "train several tasks jointly on one frozen backbone (one adapter each)"


def add_parser(commands) -> None:
    from ptune.encoders import ENCODER_CONFIGS
    from ptune.injections import INJECTION_MODULES
    from ptune.training.configs import MultiTaskConfig

    p = commands.add_parser("multitask", help=HELP)
    p.add_argument("--spec", default=None, help="JSON file: {\"tasks\": {name: {data, task, epochs, batch_size, "
                                                "train_size, lr, ptuning: {...}}}, and any run setting below}")
    p.add_argument("--task", action="append", default=[], dest="task_items", metavar="NAME=TYPE:DATA",
                   help="a task with default settings, e.g. sst2=classification:data/sst2 or ner=ner:data/conll2003 "
                        "(repeatable; adds to --spec)")
    p.add_argument("--output", default=None, help="run folder: one adapter folder per task inside")
    p.add_argument("--injection", choices=sorted(INJECTION_MODULES), default=None, help="for every --task task")
    p.add_argument("--encoder", choices=sorted(ENCODER_CONFIGS), default=None, help="for every --task task")
    p.add_argument("--overwrite", action="store_true", help="replace the multi-task run in --output")
    p.add_argument("--resume", action="store_true", help="continue the interrupted multi-task run in --output "
                                                          "from its last checkpoint (same settings)")
    add_dataclass_flags(p, MultiTaskConfig, skip=("tasks", "output"), dest_prefix="mt_")
    p.set_defaults(func=cmd_multitask)


def multitask_config(args):
    from ptune.training.configs import MultiTaskConfig

    data = {}
    if args.spec:
        try:
            data = json.loads(Path(args.spec).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError("--spec", [f"{args.spec}: cannot read it as JSON ({err})"]) from None
        if not isinstance(data, dict):
            raise ConfigError("--spec", [f"{args.spec}: expected a JSON object with 'tasks'"])
    tasks = data.pop("tasks", {})
    tasks = [{"name": n, **t} for n, t in tasks.items()] if isinstance(tasks, dict) else list(tasks)
    for item in args.task_items:
        name, sep, rest = item.partition("=")
        kind, colon, source = rest.partition(":")
        if not (sep and colon and name and kind and source):
            raise ConfigError("--task", [f"{item!r}: expected NAME=TYPE:DATA, e.g. sst2=classification:data/sst2"])
        ptuning = {k: v for k, v in (("injection", args.injection), ("encoder", args.encoder and {"type": args.encoder}))
                   if v}
        tasks.append({"name": name, "task": kind, "data": source, "ptuning": ptuning})
    data.update(given(args, MultiTaskConfig, "mt_", skip=("tasks", "output")))
    data["output"] = args.output or data.get("output")
    if not data["output"]:
        raise ConfigError("multitask flags", ["--output is required (a folder for the run and its adapters)"])
    return MultiTaskConfig.from_dict({**data, "tasks": tasks})


def cmd_multitask(args) -> int:
    from ptune.training.multitask import train_multitask

    run = multitask_config(args)
    metrics = train_multitask(run, overwrite=args.overwrite, resume=args.resume,
                              command=shlex.join(["ptune", *args.argv]))
    for name, result in metrics["tasks"].items():
        if not result["best_dev"]:
            print(f"{name}: no adapter written ({result['steps_trained']} steps trained)")
            continue
        best = "  ".join(f"{k} {v:.4f}" for k, v in result["best_dev"].items())
        print(f"{name}: best dev {best} at step {result['best_step']} ({result['steps_trained']} steps trained) "
              f"-> {result['adapter']}")
    print(f"serve them all: ptune serve --adapter-dir {run.output}")
    return 0
