"""The `ptune` command line: one function per command. Flags map one-to-one onto the config
dataclasses (PTuningConfig, the encoder configs, TrainConfig, DataConfig)."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import errno
import inspect
import json
import os
import shlex
import sys
import time
from pathlib import Path

from ptune.errors import ConfigError, PtuneError
# The config, encoder, injection and task modules import torch: each command imports them when it
# runs, so `ptune predict` on an ONNX export and `ptune --help` never load torch.

DEMO_DATA = Path(__file__).parent / "resources"


def attribute_docs(cls) -> dict[str, str]:
    """Field docstrings (the string under each dataclass field) become the flags' help."""
    docs = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def add_dataclass_flags(parser, cls, *, prefix: str = "", skip=(), dest_prefix: str = "") -> None:
    docs = attribute_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        kwargs = {"dest": dest_prefix + f.name, "default": None, "help": docs.get(f.name, "")}
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if "bool" in kind:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif "int" in kind and "float" not in kind:
            kwargs["type"] = int
        elif "float" in kind:
            kwargs["type"] = float
        if f.default is not dataclasses.MISSING:
            kwargs["help"] += f" (default: {f.default})"
        try:
            parser.add_argument(flag, **kwargs)
        except argparse.ArgumentError:
            pass  # the same field in two encoder configs: one flag serves both


def given(args, cls, dest_prefix: str = "", skip=()) -> dict:
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        value = getattr(args, dest_prefix + f.name, None)
        if value is not None:
            values[f.name] = value
    return values


def flat_train_settings(args) -> dict:
    """The settings given on the command line, flat, as `ptune.settings.resolve` takes them."""
    from ptune.config import PTuningConfig, TrainConfig
    from ptune.encoders import ENCODERS
    from ptune.tasks import TASKS

    settings = {}
    for config_cls, _ in ENCODERS.values():
        settings.update({"encoder_" + k: v for k, v in given(args, config_cls, "encoder_").items()})
    for task in TASKS.values():
        settings.update(given(args, task.config_cls))
    settings.update(given(args, PTuningConfig, skip=("encoder", "task")))
    settings.update(given(args, TrainConfig))
    if args.encoder is not None:
        settings["encoder"] = args.encoder
    return settings


# ---- train ----------------------------------------------------------------------------------
def add_train_parser(commands) -> None:
    from ptune.config import PLACEMENTS, POOLINGS, PTuningConfig, TrainConfig
    from ptune.encoders import ENCODERS
    from ptune.injections import INJECTIONS
    from ptune.tasks import TASKS, ClassificationConfig

    p = commands.add_parser("train", help="train a P-tuning adapter")
    p.add_argument("--model", default=None, help="Hub name or local folder of the backbone (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--data", default=None, help="a folder with train/dev files, a file, or a Hub name like glue/sst2 (default: the bundled sentiment sample)")
    p.add_argument("--dev-data", default=None, help="dev file, when --data is a single training file")
    p.add_argument("--output", default=None, help="run folder (default: runs/<data>-<time>)")
    p.add_argument("--text-column", default=None)
    p.add_argument("--pair-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows (counted) instead of stopping")
    p.add_argument("--label-names", default=None, metavar="0=negative,1=positive",
                   help="names for the labels as the files write them (GLUE TSVs write numbers)")
    p.add_argument("--task", choices=sorted({*TASKS, "ner", "qa"}), default=None,
                   help="(default: classification) classification (sentences, sentence pairs), token_classification (ner: CoNLL files) or "
                        "question_answering (qa: SQuAD v1.1/v2.0 JSON, or the Hub's squad / squad_v2)")
    p.add_argument("--injection", choices=sorted(INJECTIONS), default=None, help=attribute_docs(PTuningConfig)["injection"])
    p.add_argument("--encoder", choices=sorted(ENCODERS), default=None,
                   help="prompt encoder (default: mlp for --injection input, embedding for deep)")
    for config_cls, _ in ENCODERS.values():
        add_dataclass_flags(p, config_cls, prefix="encoder-", dest_prefix="encoder_")
    p.add_argument("--placement", choices=PLACEMENTS, default=None, help=attribute_docs(PTuningConfig)["placement"])
    p.add_argument("--pooling", choices=POOLINGS, default=None, help=attribute_docs(ClassificationConfig)["pooling"])
    for task in TASKS.values():
        add_dataclass_flags(p, task.config_cls, skip=("pooling", "label_token_ids", "mask_token_id"))
    add_dataclass_flags(p, PTuningConfig, skip=("encoder", "placement", "injection", "task"))
    add_dataclass_flags(p, TrainConfig)
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a run as --print-config writes it (.json, or .yaml/.yml); flags given here win over it")
    p.add_argument("--print-config", action="store_true",
                   help="print the complete resolved settings of this run (every default filled in) as JSON and exit")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def run_config_from_args(args):
    """Flags (over `--config FILE`, over the defaults) -> the complete RunConfig, through the one resolver."""
    from ptune.demo import SAMPLE_BUDGET
    from ptune.settings import flat_settings, resolve
    from ptune.training.run import DataConfig, RunConfig

    base = read_config_file(args.config) if args.config else {}
    settings = {**flat_settings(base), **flat_train_settings(args)}
    task = settings.pop("task", None) if args.task is None else args.task
    task = task or "classification"
    data_fields = {**(base.get("data") or {}), **{k: v for k, v in (
        ("train", args.data), ("dev", args.dev_data), ("text_column", args.text_column),
        ("pair_column", args.pair_column), ("label_column", args.label_column),
        ("label_names", args.label_names)) if v is not None}}
    if args.skip_bad_rows:
        data_fields["skip_bad_rows"] = True
    given_data = "train" in data_fields
    data_fields.setdefault("train", str(DEMO_DATA))
    # The bundled sample has 233 sentences: one epoch of 32 would be 8 steps. Without --data, train
    # with the demo's budget unless the flags say otherwise.
    if not given_data:
        settings = {**SAMPLE_BUDGET, **settings}
    name = Path(data_fields["train"].rstrip("/")).name if given_data else "bundled-sample"
    output = args.output or base.get("output") or f"runs/{name or 'data'}-{time.strftime('%Y%m%d-%H%M%S')}"
    resolved = resolve(task, settings)
    try:
        data = DataConfig(**data_fields)
    except TypeError as err:
        raise ConfigError("--config", [f"data: {err}"]) from None
    model = args.model if args.model is not None else base.get("model")
    return RunConfig(model=model, data=data, output=output, ptuning=resolved.ptuning, training=resolved.training)


def read_config_file(path: str) -> dict:
    """A run as `--print-config` writes it: JSON, or YAML (.yaml/.yml)."""
    data = read_options_file(path)
    unknown = sorted(set(data) - {"model", "data", "output", "ptuning", "training"})
    if unknown:
        raise ConfigError("--config", [f"{path}: unknown key(s) {unknown}; expected model, data, output, ptuning, training"])
    return data


RESUME_NEUTRAL = ("--resume", "--output", "--no-progress", "--print-config")
"""Flags that do not describe the run: with only these, --resume takes everything else from the run."""


def cmd_train(args) -> int:
    from ptune.training.run import saved_run, train

    settings_given = [a.split("=")[0] for a in args.argv if a.startswith("--") and a.split("=")[0] not in RESUME_NEUTRAL]
    if args.resume and args.output and not settings_given:
        run = saved_run(Path(args.output))
        run.output = args.output
    else:
        run = run_config_from_args(args)
    if args.print_config:
        print(json.dumps(run.to_dict(), indent=2, sort_keys=True))
        return 0
    print(f"training into {run.output}", file=sys.stderr)
    command = " ".join(["ptune", *(shlex.quote(a) for a in args.argv)])
    metrics = train(run, resume=args.resume, overwrite=args.overwrite, log=lambda m: print(m, file=sys.stderr),
                    show_progress=not args.no_progress, command=command)
    if metrics["is_main_process"]:
        print(summary_line(metrics))
    return 0


def summary_line(metrics: dict) -> str:
    best = metrics["best_dev"]
    last = {k: metrics["final_dev"][k] for k in best if k in metrics["final_dev"]}
    scores = lambda d: "  ".join(f"{k} {v:.4f}" for k, v in d.items())  # noqa: E731
    if not metrics.get("dev_examples"):
        return (f"no dev set: the adapter of the last step ({metrics['steps']}/{metrics['steps_total']}) is saved, "
                f"unscored  train {metrics['train_samples_per_s']:.1f} samples/s  "
                f"trainable {metrics['parameters']['trainable']:,} ({metrics['trainable_percent']:.2f}%)")
    return (f"best checkpoint (step {metrics['best_step']}/{metrics['steps_total']}, saved): dev {scores(best)}\n"
            f"last step: dev {scores(last)}  train {metrics['train_samples_per_s']:.1f} samples/s  "
            f"trainable {metrics['parameters']['trainable']:,} ({metrics['trainable_percent']:.2f}%)")


def add_inference_flags(p) -> None:
    from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION, DEVICES_HELP, PRECISION_HELP, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                   help=f"{PRECISION_HELP} (default: {DEFAULT_PRECISION}, as for train and serve)")
    p.add_argument("--device", default=DEFAULT_DEVICE, help=f"{DEVICES_HELP} (default: {DEFAULT_DEVICE})")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="dynamic int8 quantisation of the backbone's Linear layers (CPU, fp32)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow first batch)")


# ---- eval -----------------------------------------------------------------------------------
def add_eval_parser(commands) -> None:
    p = commands.add_parser("eval", help="evaluate an adapter on labelled data")
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


# ---- predict --------------------------------------------------------------------------------
def add_predict_parser(commands) -> None:
    p = commands.add_parser("predict", help="label texts with an adapter (JSONL out)")
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


def read_inputs(args) -> list:
    """Inputs in order; a blank line stays in place (as "") so output line N answers input line N."""
    from ptune.data import Example, load_examples

    inputs = []
    for text in args.texts:
        inputs += [line.strip() for line in read_lines(sys.stdin.buffer, "stdin")] if text == "-" else [text]
    if args.file:
        from ptune.data.sources import not_a_data_file

        path = Path(args.file)
        problem = not_a_data_file(path, "text")
        if problem or not path.exists():
            raise PtuneError(f"--file {problem or f'{path}: no such file'}")
        if path.suffix in (".tsv", ".csv", ".jsonl", ".json"):
            inputs += [Example(e.text, e.text_pair) for e in load_examples(path, require_label=False)]
        else:
            with path.open("rb") as handle:
                inputs += [line.strip() for line in read_lines(handle, str(path))]
    if not any(i for i in inputs):
        raise PtuneError("nothing to predict: give TEXT arguments, '-' for stdin, or --file")
    return inputs


def read_lines(handle, origin: str) -> list[str]:
    data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PtuneError(f"{origin}:{line}: not UTF-8 text (byte {data[err.start]:#x}); "
                         "convert it, e.g. `iconv -f latin1 -t utf-8`") from None
    return text.splitlines()


def read_qa_inputs(args) -> list:
    """QA inputs: --question/--context, a SQuAD .json or a .jsonl file, or JSONL on stdin ('-')."""
    from ptune.data.squad import read_squad_file

    if args.texts and args.texts != ["-"]:
        raise PtuneError("a question-answering adapter takes --question Q --context C, --file (SQuAD .json or .jsonl "
                         "lines {\"question\": ..., \"context\": ...}), or '-' for such lines on stdin; not TEXT arguments")
    if (args.question is None) != (args.context is None):
        raise PtuneError("give --question and --context together")
    inputs = [{"question": args.question, "context": args.context}] if args.question is not None else []
    lines = []
    if args.texts == ["-"]:
        lines += [("stdin", n, line) for n, line in enumerate(read_lines(sys.stdin.buffer, "stdin"), 1)]
    if args.file:
        from ptune.data.sources import not_a_data_file

        path = Path(args.file)
        problem = not_a_data_file(path, "text")
        if problem or not path.exists():
            raise PtuneError(f"--file {problem or f'{path}: no such file'}")
        if path.suffix == ".json":
            inputs += read_squad_file(path)
        else:
            with path.open("rb") as handle:
                lines += [(str(path), n, line) for n, line in enumerate(read_lines(handle, str(path)), 1)]
    for origin, number, line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise PtuneError(f"{origin}:{number}: not a JSON object ({err}); expected {{\"question\": ..., \"context\": ...}}") from None
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("question", "context")):
            raise PtuneError(f"{origin}:{number}: expected {{\"question\": ..., \"context\": ...}} with two strings")
        inputs.append(item)
    if not inputs:
        raise PtuneError("nothing to predict: give --question and --context, --file, or '-' for JSONL on stdin")
    return inputs


def cmd_predict(args) -> int:
    from ptune.format.exported import is_export
    from ptune.format.files import check_output_file

    if args.output:
        check_output_file(args.output, overwrite=args.overwrite, flag="--output", inputs=[args.file, args.adapter])
    if is_export(args.adapter):  # an ONNX export: ONNX Runtime, no torch
        return predict_with_export(args)
    from ptune.format.artifacts import read_adapter_config, resolve_adapter
    from ptune.tasks import get_task

    config = read_adapter_config(resolve_adapter(args.adapter))
    task = get_task(config["task"].get("type", "classification"))
    if task.input_form == "qa":
        return predict_answers(args, read_qa_inputs(args))
    if args.question is not None or args.context is not None:
        raise PtuneError(f"--question/--context are for question-answering adapters; this one is {task.name}")
    inputs = read_inputs(args)
    check_input_form(args, inputs, task.served_input_form(config.get("inputs")))
    return write_predictions(args, inputs, predictor_for(args))


def check_input_form(args, inputs: list, form: str | None) -> None:
    """Texts for a single-text adapter, pairs for a pair adapter, as the server demands: a pair run
    through a single-text adapter (or the reverse) answers something it was never trained on."""
    for number, item in enumerate(inputs, 1):
        if not item:
            continue
        pair = not isinstance(item, str) and item.text_pair is not None
        if form == "pair" and not pair:
            raise PtuneError(f"{args.adapter} was trained on text pairs, but input {number} is a single text; give a "
                             "TSV, CSV or JSONL --file with two text columns (e.g. sentence1, sentence2)")
        if form in ("text", "words") and pair:
            raise PtuneError(f"{args.adapter} was trained on single texts, but input {number} of {args.file} is a text "
                             "pair; give a file with one text column")


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
    changed = [flag for flag, value in (("--model", args.model), ("--quantize", args.quantize),
                                        ("--compile", args.compile), ("--allow-backbone-mismatch", args.allow_backbone_mismatch))
               if value]
    if changed:
        raise PtuneError(f"{args.adapter} is an ONNX export, which holds its own backbone: {', '.join(changed)} "
                         "do(es) not apply; predict with the adapter folder for those")
    inputs = read_inputs(args)
    predictor = OnnxPredictor(args.adapter, batch_size=args.batch_size)
    check_input_form(args, inputs, predictor.config.get("input_form"))
    return write_predictions(args, inputs, predictor)


def predictor_for(args):
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


def predict_answers(args, inputs: list) -> int:
    predictor = predictor_for(args)
    rows = []
    for item, prediction in zip(inputs, predictor.predict(inputs)):
        question = item["question"] if isinstance(item, dict) else item.question
        identifier = item.get("id") if isinstance(item, dict) else item.id
        rows.append(json.dumps({**({"id": identifier} if identifier is not None else {}), "question": question,
                                **prediction}, ensure_ascii=False))
    return write_rows(args, rows)


# ---- push ---------------------------------------------------------------------------------
def add_push_parser(commands) -> None:
    p = commands.add_parser("push", help="upload an adapter folder (with its model card) to the Hugging Face Hub")
    p.add_argument("--adapter", required=True, help="adapter folder")
    p.add_argument("--repo", required=True, help="Hub repo id, e.g. you/sst2-ptune")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=cmd_push)


def cmd_push(args) -> int:
    from ptune.format.hub import push_to_hub

    print(push_to_hub(args.adapter, args.repo, private=args.private))
    return 0


# ---- export -------------------------------------------------------------------------------
def add_export_parser(commands) -> None:
    p = commands.add_parser("export", help="an adapter and its backbone as one ONNX graph (runs without ptune)")
    p.add_argument("--adapter", required=True, help="adapter folder or Hub repo id")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--output", required=True, help="folder for model.onnx, the tokenizer and ptune_export.json")
    p.add_argument("--model", default=None, help="load this backbone instead of the one the adapter names")
    p.add_argument("--allow-backbone-mismatch", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace model.onnx in --output")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ptune.format.export import export_onnx

    result = export_onnx(args.adapter, args.output, overwrite=args.overwrite, model_name=args.model,
                         allow_backbone_mismatch=args.allow_backbone_mismatch)
    print(f"wrote {result['output']}/model.onnx; largest |logit difference| against PyTorch: "
          f"{result['max_abs_logit_difference']:.2e}")
    return 0


# ---- multitask ----------------------------------------------------------------------------
def add_multitask_parser(commands) -> None:
    from ptune.encoders import ENCODERS
    from ptune.injections import INJECTIONS
    from ptune.training.multitask import MultiTaskConfig

    p = commands.add_parser("multitask", help="train several tasks jointly on one frozen backbone (one adapter each)")
    p.add_argument("--spec", default=None, help="JSON file: {\"tasks\": {name: {data, task, epochs, batch_size, "
                                                "train_size, lr, ptuning: {...}}}, and any run setting below}")
    p.add_argument("--task", action="append", default=[], dest="task_items", metavar="NAME=TYPE:DATA",
                   help="a task with default settings, e.g. sst2=classification:data/sst2 or ner=ner:data/conll2003 "
                        "(repeatable; adds to --spec)")
    p.add_argument("--output", default=None, help="run folder: one adapter folder per task inside")
    p.add_argument("--injection", choices=sorted(INJECTIONS), default=None, help="for every --task task")
    p.add_argument("--encoder", choices=sorted(ENCODERS), default=None, help="for every --task task")
    p.add_argument("--overwrite", action="store_true", help="replace the multi-task run in --output")
    p.add_argument("--resume", action="store_true", help="continue the interrupted multi-task run in --output "
                                                          "from its last checkpoint (same settings)")
    add_dataclass_flags(p, MultiTaskConfig, skip=("tasks", "output"), dest_prefix="mt_")
    p.set_defaults(func=cmd_multitask)


def multitask_config(args):
    from ptune.training.multitask import MultiTaskConfig

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


# ---- serve --------------------------------------------------------------------------------
def add_serve_parser(commands) -> None:
    from ptune.serve.config import ServeConfig

    p = commands.add_parser("serve", help="serve many task adapters on one backbone over HTTP (mixed-task batches)")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=DIR",
                   help="a task to serve: its name in requests and its adapter folder or Hub id (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="backbone to load instead of the one the adapters record")
    p.add_argument("--workers", type=int, default=1,
                   help="processes answering on the port, the backbone's weights in memory once (default: 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker or Ray replica (default: the cores shared out among the workers)")
    p.add_argument("--backend", choices=("uvicorn", "ray"), default="uvicorn",
                   help="uvicorn (default: this machine, --workers processes) or ray (Ray Serve: --replicas of the "
                        "whole bank, on a local Ray instance or --ray-address's cluster; extra `ray`)")
    p.add_argument("--replicas", type=int, default=None, help="--backend ray: replicas of the bank (default: 1)")
    p.add_argument("--max-replicas", type=int, default=None,
                   help="--backend ray: autoscale between --replicas and this many, by ongoing requests")
    p.add_argument("--target-ongoing-requests", type=float, default=None,
                   help="--backend ray, autoscaling: the ongoing requests per replica Ray aims at (default: 16)")
    p.add_argument("--ray-address", default=None,
                   help="--backend ray: an existing cluster (`auto`, or ray://host:10001); default: start a local one")
    add_dataclass_flags(p, ServeConfig, dest_prefix="serve_")
    p.set_defaults(func=cmd_serve)


def parse_named_adapters(items: list[str]) -> dict[str, str]:
    named, problems = {}, []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            problems.append(f"--adapter {item!r}: expected NAME=DIR, e.g. --adapter sst2=runs/sst2")
        elif name in named:
            problems.append(f"--adapter: the name {name!r} is given twice")
        else:
            named[name.strip()] = path.strip()
    if problems:
        raise ConfigError("serve flags", problems)
    return named


def cmd_serve(args) -> int:
    from ptune.extras import require

    require("serve", "ptune serve")
    from ptune.serve.app import serve
    from ptune.serve.config import ServeConfig

    if not 1 <= args.port <= 65535:
        raise ConfigError("serve flags", [f"--port {args.port}: expected a TCP port, 1 to 65535"])
    config = ServeConfig(**given(args, ServeConfig, "serve_"))
    named = parse_named_adapters(args.adapter)
    if not named and not config.adapter_dir:
        raise ConfigError("serve flags", ["nothing to serve: pass --adapter NAME=DIR (repeatable) and/or --adapter-dir D"])
    ray_flags = [flag for flag, value in (("--replicas", args.replicas), ("--max-replicas", args.max_replicas),
                                          ("--target-ongoing-requests", args.target_ongoing_requests),
                                          ("--ray-address", args.ray_address)) if value is not None]
    if args.backend != "ray":
        if ray_flags:
            raise ConfigError("serve flags", [f"{', '.join(ray_flags)}: Ray Serve settings; add --backend ray"])
        serve(named, config, host=args.host, port=args.port, model_name=args.model, workers=args.workers,
              threads=args.threads)
        return 0
    if args.workers != 1:
        raise ConfigError("serve flags", [f"--workers {args.workers} with --backend ray: Ray runs replicas of the bank "
                                          "instead; use --replicas N"])
    require("ray", "ptune serve --backend ray")
    from ptune.serve.ray_backend import ReplicaSpec, ScalingConfig, run_ray

    scaling = ScalingConfig(replicas=args.replicas or 1, max_replicas=args.max_replicas,
                            target_ongoing_requests=args.target_ongoing_requests or 16.0,
                            cpus_per_replica=float(args.threads or 1))
    spec = ReplicaSpec(adapters=named, config=config, model_name=args.model, threads=args.threads)
    run_ray(spec, scaling, host=args.host, port=args.port, address=args.ray_address)
    return 0


# ---- demo -----------------------------------------------------------------------------------
def add_demo_parser(commands) -> None:
    p = commands.add_parser("demo", help="offline demo: bundled backbone + bundled sentiment sample")
    p.add_argument("--output", default=None, help="run folder (default: runs/demo-<time>)")
    p.add_argument("--epochs", type=float, default=8)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ptune.demo import run_demo

    run_demo(output=args.output or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}", epochs=args.epochs)
    return 0


# ---- bench ----------------------------------------------------------------------------------
def add_bench_parser(commands) -> None:
    p = commands.add_parser("bench", help="measurements")
    kinds = p.add_subparsers(dest="bench", required=True)
    speed = kinds.add_parser("speed", help="ptune fp32/bf16 vs PEFT P-tuning: samples/s and share of the matmul ceiling")
    speed.add_argument("--model", default=None, help="backbone (default: the bundled all-MiniLM-L6-v2)")
    speed.add_argument("--data", default=None, help="folder with train and dev files (default: the bundled sample)")
    speed.add_argument("--train-samples", type=int, default=640)
    speed.add_argument("--batch-size", type=int, default=32)
    speed.add_argument("--max-length", type=int, default=66)
    speed.add_argument("--no-peft", action="store_true", help="skip the PEFT row")
    speed.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    speed.set_defaults(func=cmd_bench_speed)
    inference = kinds.add_parser("inference", help="an adapter's inference options (fp32, bf16, int8, compile): "
                                                   "accuracy, agreement with fp32, samples/s")
    inference.add_argument("--adapter", required=True)
    inference.add_argument("--data", required=True, help="labelled data (a folder: its dev split)")
    inference.add_argument("--split", default="dev")
    inference.add_argument("--batch-size", type=int, default=64)
    inference.add_argument("--rounds", type=int, default=5, help="timed passes per option (median reported)")
    inference.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    inference.set_defaults(func=cmd_bench_inference)
    prompts = kinds.add_parser("prompts", help="inference cost of input-level vs deep prompts vs LoRA vs no prompt")
    prompts.add_argument("--model", default=None, help="backbone (default: the bundled all-MiniLM-L6-v2)")
    prompts.add_argument("--data", default=None, help="data whose dev split is predicted (default: the bundled sample)")
    prompts.add_argument("--num-virtual-tokens", type=int, default=20)
    prompts.add_argument("--max-length", type=int, default=66)
    prompts.add_argument("--batch-size", type=int, default=64)
    prompts.add_argument("--rounds", type=int, default=5, help="timed passes per row (median reported)")
    prompts.add_argument("--precisions", default=None, metavar="fp32,bf16",
                         help="precisions to time (default: fp32, and bf16 where the hardware computes it natively)")
    prompts.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    prompts.set_defaults(func=cmd_bench_prompts)


def cmd_bench_speed(args) -> int:
    from ptune.lab.speed import bench_speed

    if not args.no_peft:
        from ptune.extras import require

        require("peft", "the PEFT row of `ptune bench speed`", alternative="or pass --no-peft")
    result = bench_speed(model_name=args.model, data=args.data or str(DEMO_DATA), train_samples=args.train_samples,
                         batch_size=args.batch_size, max_length=args.max_length, include_peft=not args.no_peft)
    ceilings = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in result["ceiling_gflops_per_s"].items())
    print(f"matmul ceiling (2048², {torch_threads()} threads): {ceilings}; {result['train_samples']} training samples")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


# ---- advise ---------------------------------------------------------------------------------
def add_advise_parser(commands) -> None:
    from ptune.lab.advise import TASKS

    p = commands.add_parser("advise", help="which PEFT method and settings, by the lab's rules and measured grids")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--model-size", type=int, required=True, help="backbone parameters, e.g. 110000000")
    p.add_argument("--train-size", type=int, required=True, help="labelled training examples")
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
                               curves=Path(args.curves) if args.curves else None)))
    return 0


def cmd_bench_inference(args) -> int:
    from ptune.lab.speed import bench_inference

    result = bench_inference(args.adapter, data=args.data, split=args.split, batch_size=args.batch_size,
                             rounds=args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_bench_prompts(args) -> int:
    from ptune.lab.prompt_speed import bench_prompt_inference

    result = bench_prompt_inference(model_name=args.model, data=args.data or str(DEMO_DATA), k=args.num_virtual_tokens,
                                    max_length=args.max_length, batch_size=args.batch_size, rounds=args.rounds,
                                    precisions=parse_precisions(args.precisions))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def parse_precisions(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    problems = [f"{c!r}: expected fp32 or bf16" for c in chosen if c not in ("fp32", "bf16")]
    problems += [] if chosen else ["no precision given: e.g. --precisions fp32,bf16"]
    if problems:
        raise ConfigError("--precisions", problems)
    return chosen


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def command_adders() -> dict:
    """Each command's name and the function that adds its parser, in help order."""
    def lab(name):
        def add(commands):
            from ptune.lab.compare import commands as lab_commands

            getattr(lab_commands, f"add_{name}_parser")(commands)
        return add

    return {"train": add_train_parser, "eval": add_eval_parser, "predict": add_predict_parser, "push": add_push_parser,
            "export": add_export_parser, "multitask": add_multitask_parser, "serve": add_serve_parser,
            "demo": add_demo_parser, "bench": add_bench_parser, "compare": lab("compare"), "ablate": lab("ablate"),
            "advise": add_advise_parser}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone: building a command's parser imports
    its settings (multi-task training, the lab), which `ptune predict` should not wait for."""
    from ptune import __version__

    parser = argparse.ArgumentParser(prog="ptune", description="P-Tuning for encoder transformers.")
    parser.add_argument("--version", action="version", version=f"ptune {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    adders = command_adders()
    for name, add in adders.items():
        if command in adders and name != command:
            continue
        add(commands)
    for name, sub in commands.choices.items():
        if name not in ("train", "bench"):  # train's --config is a whole run; bench has its own commands
            sub.add_argument("--config", default=None, metavar="FILE",
                             help="this command's options as JSON or YAML, {option: value} (e.g. {\"batch_size\": 32}); "
                                  "flags given on the command line win")
    return parser


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """`ptune COMMAND --config FILE`: the file's options become the command's defaults, so the
    flags on the command line win. (`ptune train --config` reads a whole run instead.)"""
    names = [a.split("=", 1)[0] for a in argv]
    if not argv or argv[0] in ("train", "bench") or "--config" not in names:
        return
    at = names.index("--config")
    path = argv[at].split("=", 1)[1] if "=" in argv[at] else (argv[at + 1] if at + 1 < len(argv) else None)
    sub = next((a.choices[argv[0]] for a in parser._actions
                if isinstance(a, argparse._SubParsersAction) and argv[0] in a.choices), None)
    if sub is None or path is None:
        return
    data = read_options_file(path)
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")}
    options = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(options) - set(actions))
    if unknown:
        raise ConfigError("--config", [f"{path}: option(s) {unknown} are not options of `ptune {argv[0]}`; "
                                       f"its options: {sorted(actions)}"])
    for dest in options:
        actions[dest].required = False  # given by the file
    sub.set_defaults(**options)


def read_options_file(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
        if Path(path).suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, ImportError) as err:
        raise ConfigError("--config", [f"{path}: cannot read it ({type(err).__name__}: {err})"]) from None
    if not isinstance(data, dict):
        raise ConfigError("--config", [f"{path}: expected a mapping of option names to values"])
    return data


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, a container stop) during training: unwound like Ctrl-C, so a
    run that --overwrite was replacing is put back at once and the checkpoint is kept."""


def stop_on_sigterm() -> None:
    import signal

    def terminate(signum, frame):
        raise Terminated()

    if threading_main():
        signal.signal(signal.SIGTERM, terminate)


def resume_hint(args) -> str:
    """What an interrupted training left: a checkpoint to resume from, or nothing."""
    if args.command not in ("train", "multitask") or not getattr(args, "output", None):
        return ""
    from pathlib import Path

    from ptune.training.checkpoint import has_checkpoint

    if has_checkpoint(Path(args.output)):
        return "; the last checkpoint is kept: run the same command with --resume to continue"
    return "; it stopped before its first checkpoint, so there is nothing to resume: run it again"


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
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
