"""`ptune train`: the run's settings from flags (over `--config FILE`, over the defaults), through
the one resolver, into the training run."""
from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from ptune.cli.flags import DEMO_DATA, add_dataclass_flags, attribute_docs, given, read_options_file
from ptune.errors import ConfigError, PtuneError

HELP = "train a P-tuning adapter"


def add_parser(commands) -> None:
    from ptune.config import PLACEMENTS, POOLINGS, PTuningConfig, TrainConfig
    from ptune.encoders import ENCODER_CONFIGS
    from ptune.injections import INJECTION_MODULES
    from ptune.tasks import TASKS, ClassificationConfig

    p = commands.add_parser("train", help=HELP)
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
    p.add_argument("--injection", choices=sorted(INJECTION_MODULES), default=None, help=attribute_docs(PTuningConfig)["injection"])
    p.add_argument("--encoder", choices=sorted(ENCODER_CONFIGS), default=None,
                   help="prompt encoder (default: mlp for --injection input; for deep, embedding (free rows), "
                        "mlp on sentence pairs, decided on the training rows)")
    for config_cls in ENCODER_CONFIGS.values():
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


def flat_train_settings(args) -> dict:
    """The settings given on the command line, flat, as `ptune.settings.resolve` takes them."""
    from ptune.config import PTuningConfig, TrainConfig
    from ptune.encoders import ENCODER_CONFIGS
    from ptune.tasks import TASKS

    settings = {}
    for config_cls in ENCODER_CONFIGS.values():
        settings.update({"encoder_" + k: v for k, v in given(args, config_cls, "encoder_").items()})
    for task in TASKS.values():
        settings.update(given(args, task.config_cls))
    settings.update(given(args, PTuningConfig, skip=("encoder", "task")))
    settings.update(given(args, TrainConfig))
    if args.encoder is not None:
        settings["encoder"] = args.encoder
    return settings


def run_config_from_args(args):
    """Flags (over `--config FILE`, over the defaults) -> the RunConfig: the adapter's settings decided by
    the one resolver, the training settings as given (the run decides them once it has counted its rows)."""
    from ptune.defaults import SAMPLE_BUDGET
    from ptune.settings import flat_settings, given_settings
    from ptune.training.configs import DataConfig, RunConfig

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
    ptuning, training = given_settings(task, settings)  # training is resolved once the run has counted its rows
    try:
        data = DataConfig(**data_fields)
    except TypeError as err:
        raise ConfigError("--config", [f"data: {err}"]) from None
    model = args.model if args.model is not None else base.get("model")
    return RunConfig(model=model, data=data, output=output, ptuning=ptuning, training=training)


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
    from ptune.settings import resolve_training
    from ptune.training.run import resolved_run, saved_run, train

    settings_given = [a.split("=")[0] for a in args.argv if a.startswith("--") and a.split("=")[0] not in RESUME_NEUTRAL]
    if args.resume and args.output and not settings_given:
        run = saved_run(Path(args.output))
        run.output = args.output
    else:
        run = run_config_from_args(args)
    if args.print_config:  # a start that depends on the data's size is decided on its rows, as training does
        try:
            run = resolved_run(run)
        except PtuneError as err:  # the data cannot be read here: print what is decided, and say why not the rest
            run = dataclasses.replace(run, training=resolve_training(run.training, run.ptuning))
            undecided = [k for k, v in run.training.to_dict().items() if v is None and k in (
                "lr", "head_lr", "head_init", "choose_layer", "contrastive_steps")]
            undecided = (["encoder"] if run.ptuning.encoder is None else []) + undecided
            if undecided:
                print(f"{undecided} depend on the training rows (how many, and whether they are sentence pairs) "
                      f"and stay null here: {err}", file=sys.stderr)
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
