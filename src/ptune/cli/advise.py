"""`ptune advise`: which PEFT method and settings, by the lab's rules and measured grids."""
from __future__ import annotations

from pathlib import Path

HELP = "which PEFT method and settings, by the lab's rules and measured grids"


def add_parser(commands) -> None:
    from ptune.lab.advise import INPUTS, TASKS

    p = commands.add_parser("advise", help=HELP)
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--model-size", type=int, required=True, help="backbone parameters, e.g. 110000000")
    p.add_argument("--train-size", type=int, required=True, help="labelled training examples")
    p.add_argument("--inputs", choices=INPUTS, default="text",
                   help="what one input is: a single text (default) or a sentence pair (classification only, e.g. "
                        "entailment); the advice then rests on the pair curves and ptune's pair defaults")
    p.add_argument("--results", action="append", default=[], metavar="DIR",
                   help="a `ptune compare` or `ptune ablate` output folder to check the advice against (repeatable)")
    p.add_argument("--curves", default=None, metavar="DIR",
                   help="learning-curve summaries (<data>-curve.json, as ptune compare --protocol sst2-curve writes "
                        "them) to ground the advice on (default: the curves measured for ptune, shipped with it)")
    p.set_defaults(func=cmd_advise)


def cmd_advise(args) -> int:
    from ptune.lab.advise import advise, format_advice

    print(format_advice(advise(args.task, model_size=args.model_size, train_size=args.train_size,
                               results=[Path(r) for r in args.results],
                               curves=Path(args.curves) if args.curves else None, inputs=args.inputs)))
    return 0
