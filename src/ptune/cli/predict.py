"""`ptune predict`: JSON lines, one per input in input order, from an adapter folder (PyTorch) or
an ONNX export (ONNX Runtime, no torch)."""
from __future__ import annotations

import json
import sys

from ptune.cli.flags import add_inference_flags
from ptune.cli.inputs import check_input_form, read_inputs, read_object_inputs
from ptune.errors import PtuneError

HELP = "label texts with an adapter (JSONL out)"


def add_parser(commands) -> None:
    p = commands.add_parser("predict", help=HELP)
    p.add_argument("--adapter", required=True)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label; '-' reads one text per line from stdin")
    p.add_argument("--file", default=None, help="one text per line (.txt), or a .tsv/.csv/.jsonl data file (pairs too); "
                                                "QA: a SQuAD .json file or .jsonl lines {\"question\": ..., \"context\": ...}")
    p.add_argument("--question", default=None, help="QA adapters: the question (with --context)")
    p.add_argument("--context", default=None, help="QA adapters: the passage the answer is taken from")
    p.add_argument("--output", default=None, help="write JSONL here instead of stdout")
    p.add_argument("--model", default=None)
    p.add_argument("--allow-backbone-mismatch", action="store_true")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    add_inference_flags(p)
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from ptune.format.exported import is_export, is_shared_export, read_export_config
    from ptune.format.files import check_output_file

    if args.output:
        check_output_file(args.output, overwrite=args.overwrite, flag="--output", inputs=[args.file, args.adapter])
    if is_export(args.adapter) and not is_shared_export(args.adapter):  # one folded graph: ONNX Runtime, no torch
        return predict_with_export(args)
    from ptune.tasks import TASKS, get_task

    if is_shared_export(args.adapter):  # beside a backbone graph: ONNX Runtime, any task
        refuse_backbone_flags(args)
        export = read_export_config(args.adapter, tasks=TASKS)
        config = {"task": {"type": export["task"]}, "inputs": export.get("recorded_inputs")}
    else:
        from ptune.format.artifacts import read_adapter_config, resolve_adapter

        config = read_adapter_config(resolve_adapter(args.adapter))
    task = get_task(config["task"].get("type", "classification"))
    from ptune.tasks.input_forms import INPUT_FORMS

    form = INPUT_FORMS[task.input_form]
    if form.shape == "object":  # one input of named fields (ptune.tasks.input_forms)
        return predict_objects(args, read_object_inputs(args, form), first=form.fields[0].key)
    if args.question is not None or args.context is not None:
        raise PtuneError(f"--question/--context are for question-answering adapters; this one is {task.name}")
    inputs = read_inputs(args)
    check_input_form(args, inputs, task.served_input_form(config.get("inputs")))
    return write_predictions(args, inputs, predictor_for(args))


def write_predictions(args, inputs: list, predictor) -> int:
    """One JSON line per input, in input order (an empty input keeps its line, with an error)."""
    filled = [item for item in inputs if item]
    predictions = iter(predictor.predict(filled))
    rows = []
    for item in inputs:
        if not item:
            rows.append(json.dumps({"text": "", "label": None, "error": "empty input"}))
            continue
        prediction = next(predictions)
        text = item if isinstance(item, str) else item.text
        pair = {} if isinstance(item, str) or item.text_pair is None else {"text_pair": item.text_pair}
        rows.append(json.dumps({"text": text, **pair, **prediction}, ensure_ascii=False))
    return write_rows(args, rows)


def predict_with_export(args) -> int:
    from ptune.inference.onnx_predictor import OnnxPredictor

    if args.question is not None or args.context is not None:
        raise PtuneError("--question/--context are for question-answering adapters; predict with the adapter folder")
    refuse_backbone_flags(args)
    inputs = read_inputs(args)
    predictor = OnnxPredictor(args.adapter, batch_size=args.batch_size)
    check_input_form(args, inputs, predictor.config.get("input_form"))
    return write_predictions(args, inputs, predictor)


def refuse_backbone_flags(args) -> None:
    changed = [flag for flag, value in (("--model", args.model), ("--quantize", args.quantize),
                                        ("--compile", args.compile), ("--allow-backbone-mismatch", args.allow_backbone_mismatch))
               if value]
    if changed:
        raise PtuneError(f"{args.adapter} is an ONNX export, which holds its own backbone: {', '.join(changed)} "
                         "do(es) not apply; predict with the adapter folder for those")


def predictor_for(args):
    from ptune.format.exported import is_shared_export

    if is_shared_export(args.adapter):
        from ptune.inference.onnx_bank import ExportPredictor

        return ExportPredictor(args.adapter, batch_size=args.batch_size)
    from ptune.inference.predictor import Predictor

    return Predictor(args.adapter, model_name=args.model, batch_size=args.batch_size,
                     allow_backbone_mismatch=args.allow_backbone_mismatch, precision=args.precision,
                     quantize=args.quantize, compile=args.compile, device=args.device)


def write_rows(args, rows: list[str]) -> int:
    """JSON lines to --output (never over an existing file without --overwrite) or stdout."""
    from ptune.format.files import write_output_text

    out = "\n".join(rows) + "\n"
    if args.output:
        write_output_text(args.output, out, overwrite=args.overwrite, flag="--output", inputs=[args.file, args.adapter])
    else:
        sys.stdout.write(out)
    return 0


def predict_objects(args, inputs: list, *, first: str) -> int:
    """One JSON line per input: its id (when given), its first field (a QA input's question) and the prediction."""
    predictor = predictor_for(args)
    rows = []
    for item, prediction in zip(inputs, predictor.predict(inputs)):
        shown = item[first] if isinstance(item, dict) else getattr(item, first)
        identifier = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
        rows.append(json.dumps({**({"id": identifier} if identifier is not None else {}), first: shown,
                                **prediction}, ensure_ascii=False))
    return write_rows(args, rows)
