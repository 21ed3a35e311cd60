"""`ptune compare` and `ptune ablate`: argument parsing and the printed summary."""
from __future__ import annotations

import sys
from pathlib import Path

from ptune.lab.compare.curve import CURVES
from ptune.lab.compare.protocol import PRESETS, ProtocolConfig
from ptune.errors import PtuneError


def add_protocol_flags(p) -> None:
    p.add_argument("--data", required=True, help="folder with train and dev files, or a Hub name like glue/sst2")
    p.add_argument("--model", default=None, help="backbone name or path (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--protocol", choices=sorted(PRESETS) + sorted(CURVES), default=None,
                   help="a named protocol's budget (train size, epochs, batch, max length); flags below override it. "
                        "sst2-curve / conll-curve: a learning curve, one grid per training size; fewshot: K = 8, 16, "
                        "32, 64 rows per class (../shared/BENCHMARK.md's fewshot suite; --train-sizes for others)")
    p.add_argument("--eval-split", choices=("dev", "test"), default=None,
                   help="the split scored (default: dev; the fewshot protocol scores test where the data has no dev "
                        "split, as CR and TREC)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: 0,1,2; 0-4 for a learning curve)")
    p.add_argument("--output", required=True, help="grid folder: one result file per (method, seed); re-running "
                                                   "skips finished cells")
    p.add_argument("--train-size", type=int, default=None,
                   help="shuffle the training rows with the seed and keep the first N")
    p.add_argument("--train-sizes", default=None, metavar="N,N,...",
                   help="a learning curve: one grid per training size, each with max(100 steps, 4 epochs) capped "
                        "at 1,000 and only the last step scored (a --protocol ...-curve sets the sizes)")
    p.add_argument("--validation-from-train", type=int, default=None, metavar="N",
                   help="score on the last N rows of the training file instead of the dev split, and train on "
                        "the rest: for choosing settings without looking at dev")
    p.add_argument("--task", choices=("classification", "token_classification"), default=None,
                   help="the task of the data (a named protocol sets it)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None, help="word pieces of text (virtual tokens are extra)")
    p.add_argument("--eval-batch-size", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None, metavar="N",
                   help="dev evaluations during training every N steps (default: once an epoch); cells score the "
                        "last step either way")
    p.add_argument("--eval-repeats", type=int, default=None, metavar="N",
                   help="timed passes over dev after training, for eval samples/s (default: 3; 1 when only the "
                        "scores matter; it changes no score, so a grid extends with another count)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                   help="one precision for every method (default: auto, bf16 where native)")
    p.add_argument("--no-group-by-length", dest="group_by_length", action="store_false", default=None,
                   help="random batches instead of length-grouped ones")
    p.add_argument("--text-column", default=None)
    p.add_argument("--pair-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--in-process", action="store_true",
                   help="run cells in this process instead of one subprocess each (peak memory is then shared)")
    p.add_argument("--no-plots", action="store_true", help="tables and CSV only")
    p.add_argument("--report-only", action="store_true",
                   help="write the tables and plots from the cells already in --output; train nothing")


def add_compare_parser(commands, *, help: str) -> None:
    from ptune.lab.compare.methods import METHODS, TABLE_6_1

    p = commands.add_parser("compare", help=help,
                            description="Methods: " + ", ".join(METHODS) + ". Settings in brackets, e.g. "
                            "'ptune[encoder=lstm;lr=1e-2]', 'peft-lora[r=16]'.")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated methods (default: {','.join(TABLE_6_1)}; for a learning curve the "
                        "curve protocols' seven)")
    add_protocol_flags(p)
    p.set_defaults(func=cmd_compare)


def add_ablate_parser(commands, *, help: str) -> None:
    p = commands.add_parser("ablate", help=help)
    add_protocol_flags(p)
    p.set_defaults(func=cmd_ablate, seeds="0")


def protocol_from_args(args) -> ProtocolConfig:
    fields = {name: getattr(args, name) for name in (
        "model", "train_size", "epochs", "batch_size", "max_length", "eval_batch_size", "precision",
        "group_by_length", "text_column", "pair_column", "label_column", "validation_from_train", "task",
        "eval_every", "eval_repeats")
        if getattr(args, name) is not None}
    if getattr(args, "eval_split", None):
        fields["eval_split"] = args.eval_split
    if args.protocol in CURVES:
        curve = CURVES[args.protocol]
        task = fields.get("task", curve.task)
        per_class = curve.per_class and task == "classification"
        if curve.per_class and "eval_split" not in fields:
            fields["eval_split"] = "dev" if has_split(args.data, "dev") else "test"
        return ProtocolConfig(data=args.data, **{"batch_size": curve.batch_size, "max_length": curve.max_length,
                                                 "task": curve.task, "per_class": per_class, **fields})
    if args.protocol:
        return ProtocolConfig.preset(args.protocol, data=args.data, **fields)
    return ProtocolConfig(data=args.data, **fields)


def has_split(data: str, split: str) -> bool:
    """Whether the local folder `data` holds a `split` file (a Hub name is assumed to)."""
    from ptune.data.sources import find_split_file
    from ptune.errors import DataError

    if not Path(data).is_dir():
        return True
    try:
        find_split_file(Path(data), split)
    except DataError:
        return False
    return True


def curve_sizes(args) -> list[int] | None:
    """The training sizes of a learning curve, or None for one grid."""
    from ptune.lab.compare.curve import parse_sizes

    sizes = parse_sizes(args.train_sizes) if getattr(args, "train_sizes", None) else (
        list(CURVES[args.protocol].sizes) if args.protocol in CURVES else None)
    if sizes is None:
        return None
    clashing = [flag for flag, value in (("--train-size", args.train_size), ("--epochs", args.epochs),
                                         ("--eval-every", args.eval_every)) if value is not None]
    if clashing:
        raise PtuneError(f"{', '.join(clashing)}: a learning curve sets the training size and its step budget per size "
                         "(max(100 steps, 4 epochs), capped at 1,000); leave them out, or drop --train-sizes / the "
                         "curve protocol for one grid")
    return sizes


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise PtuneError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds or any(not 0 <= seed < 2**32 for seed in seeds):
        raise PtuneError(f"--seeds {text!r}: expected comma-separated integers from 0 to {2**32 - 1}, e.g. 0,1,2")
    return seeds


def run(args, methods: list[str], kind: str) -> int:
    from ptune.extras import require

    require("compare", f"ptune {'compare' if kind == 'comparison' else 'ablate'} (its PEFT rows and plots)")
    from ptune.lab.compare.grid import all_rows, check_protocol, run_grid, write_results
    from ptune.lab.compare.report import write_reports

    from ptune.format.lock import output_lock

    protocol = protocol_from_args(args)
    output = Path(args.output)
    sizes = curve_sizes(args)
    if not args.report_only:
        protocol.examples(seed=0)  # a missing or malformed data set: one error here, not one per cell
    with output_lock(output, command=f"ptune {'compare' if kind == 'comparison' else 'ablate'}"):
        return run_in(args, protocol, sizes, methods, output, kind)


def run_in(args, protocol, sizes, methods: list[str], output: Path, kind: str) -> int:
    """`run` under the lock of its output folder."""
    from ptune.lab.compare.grid import all_rows, check_protocol, run_grid, write_results
    from ptune.lab.compare.report import write_reports

    if sizes is not None:
        return run_curve(args, protocol, sizes, methods, output)
    if args.report_only:
        if not (output / "cells").exists():
            raise PtuneError(f"--report-only: {output} has no cells/ folder; run the grid first")
        check_protocol(output, protocol)
        write_results(output)
        rows = []
    else:
        rows = run_grid(protocol, methods=methods, seeds=parse_seeds(args.seeds or "0,1,2"), output=output,
                        isolate=not args.in_process, log=lambda m: print(m, file=sys.stderr, flush=True))
    title = f"{'Ablation' if kind == 'ablation' else 'Comparison'}: {Path(protocol.data).name}, " \
            f"{protocol.model or 'bundled all-MiniLM-L6-v2'}"
    is_sst2 = "sst" in Path(protocol.data.rstrip("/")).name.lower()  # the lab's tables are SST-2 numbers
    written = write_reports(output, all_rows(output), order=methods, kind=kind, title=title, plots=not args.no_plots,
                            lab_column=is_sst2)
    print((output / "table.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    failed = sum("error" in r for r in rows)
    if failed:
        print(f"{failed} cell(s) failed; their errors are in the table and in {output / 'cells'}; "
              "re-run the same command to retry them", file=sys.stderr)
    return 1 if failed else 0


def run_curve(args, base: ProtocolConfig, sizes: list[int], methods: list[str], output: Path) -> int:
    """One resumable grid per training size, then the curve's table, JSON and plot."""
    from ptune.lab.compare.curve import curve_order, data_name, size_folder, size_protocol, write_curve_report
    from ptune.lab.compare.grid import all_rows, check_protocol, run_grid, write_results
    from ptune.lab.compare.protocol import label_count
    from ptune.lab.compare.report import write_reports

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    failed = 0
    classes = label_count(base) if base.per_class else None
    for size in sizes:
        protocol, folder = size_protocol(base, size, classes), size_folder(output, base, size)
        if args.report_only:
            if not (folder / "cells").exists():
                continue
            check_protocol(folder, protocol)
            write_results(folder)
        else:
            log(f"== training size {size:,}{' per class' if base.per_class else ''}: {folder}")
            failed += sum("error" in r for r in run_grid(protocol, methods=methods, output=folder, log=log,
                                                         seeds=parse_seeds(args.seeds or "0,1,2,3,4"),
                                                         isolate=not args.in_process))
        rows = all_rows(folder)  # the curve's method order, not this run's: a run of some methods keeps the table
        write_reports(folder, rows, order=curve_order(r["method"] for r in rows), kind="comparison", plots=False,
                      lab_column=False, title=f"Comparison: {data_name(base)}, {size:,} training examples"
                      + (" per class" if base.per_class else ""))
    # every size measured under these settings, not only this run's: a run of one more size keeps the rest
    written = write_curve_report(output, data=data_name(base), protocol=base, plots=not args.no_plots)
    print(written[0].read_text())
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    if failed:
        print(f"{failed} cell(s) failed; re-run the same command to retry them", file=sys.stderr)
    return 1 if failed else 0


def cmd_compare(args) -> int:
    from ptune.lab.compare.curve import CURVE_METHODS, FEWSHOT_METHODS
    from ptune.lab.compare.methods import TABLE_6_1, split_methods

    curve = args.protocol in CURVES or getattr(args, "train_sizes", None)
    default = FEWSHOT_METHODS if args.protocol == "fewshot" else CURVE_METHODS if curve else TABLE_6_1
    return run(args, split_methods(args.methods) if args.methods else list(default), "comparison")


def cmd_ablate(args) -> int:
    from ptune.lab.compare.ablation import ablation_methods

    return run(args, ablation_methods(), "ablation")
