"""`ptune eval`: an adapter's scores on labelled data, as a table or JSON."""
from __future__ import annotations

import json

from ptune.cli.flags import add_inference_flags
from ptune.errors import ConfigError

HELP = "evaluate an adapter on labelled data"


def add_parser(commands) -> None:
    p = commands.add_parser("eval", help=HELP)
    p.add_argument("--adapter", required=True)
    p.add_argument("--data", required=True, help="a labelled file, or a folder (its dev split is used)")
    p.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    p.add_argument("--model", default=None, help="load this backbone instead of the one the adapter names")
    p.add_argument("--allow-backbone-mismatch", action="store_true")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the metrics as JSON ('-' = stdout, no table)")
    p.add_argument("--compare-base", action="store_true",
                   help="also fit a linear head on the same frozen backbone without virtual tokens")
    p.add_argument("--train-data", default=None, help="training data for --compare-base (default: the train split of --data)")
    p.add_argument("--base-train-samples", type=int, default=None,
                   help="training examples for --compare-base (default: as many as the adapter was trained on)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    add_inference_flags(p)
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from ptune.inference.evaluation import evaluate_adapter
    from ptune.format.files import check_output_file, write_output_text

    if args.base_train_samples is not None and args.base_train_samples < 1:
        raise ConfigError("eval flags", [f"--base-train-samples {args.base_train_samples}: expected >= 1"])
    if args.json and args.json != "-":  # before the work, not after it
        check_output_file(args.json, overwrite=args.overwrite, flag="--json", inputs=eval_inputs(args))
    result = evaluate_adapter(args.adapter, data=args.data, split=args.split, model_name=args.model,
                              allow_backbone_mismatch=args.allow_backbone_mismatch, compare_base=args.compare_base,
                              train_data=args.train_data, base_train_samples=args.base_train_samples,
                              batch_size=args.batch_size, precision=args.precision, quantize=args.quantize,
                              device=args.device,
                              compile=args.compile)
    if args.json != "-":
        from ptune.tasks import get_task

        print(get_task(result["task"]).format_report(result["metrics"], result["label_names"]))
        if "base" in result:
            base, mine = result["base"], result["metrics"]
            print(f"\nbase (same backbone, linear head, no virtual tokens, {base['train_examples']} train examples): "
                  f"accuracy {base['accuracy']:.4f}  macro-F1 {base['macro_f1']:.4f}")
            print(f"the prompt adds {100 * (mine['accuracy'] - base['accuracy']):+.2f} accuracy points")
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            write_output_text(args.json, text + "\n", overwrite=args.overwrite, flag="--json", inputs=eval_inputs(args))
    return 0


def eval_inputs(args) -> list:
    return [args.data, args.train_data, args.adapter]
