"""`ptune train` as a function: data in, adapter folder + metrics.json + train_log.jsonl out."""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ptune.artifacts import CONFIG_FILE, inference_size_bytes, save_adapter
from ptune.backbone import canonical_model_name, fingerprint, load_backbone
from ptune.config import PTuningConfig, TrainConfig, write_json
from ptune.data import LabelSet, LoadReport, load_examples, tokenize
from ptune.errors import ConfigError, PtuneError
from ptune.model import PTuningModel
from ptune.training.checkpoint import has_checkpoint
from ptune.training.loop import fit

RUN_CONFIG_FILE = "run_config.json"
RUN_FILES = (RUN_CONFIG_FILE, CONFIG_FILE, "metrics.json", "train_log.jsonl", "checkpoints",
             "inference.safetensors", "prompt_encoder.safetensors")


@dataclass
class DataConfig:
    """Where the examples come from and how to read them."""

    train: str
    dev: str | None = None
    """Dev data; by default the dev split of `train` when it is a folder or a Hub name."""
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    skip_bad_rows: bool = False
    """Skip malformed rows (and report how many) instead of stopping at the first one."""

    def read(self, split: str, report: LoadReport):
        source = self.train if split == "train" else (self.dev or self.train)
        if split == "dev" and self.dev is None and Path(self.train).is_file():
            raise ConfigError("DataConfig", [f"train={self.train!r} is a single file, so there is no dev split "
                                             "in it; pass --dev-data FILE or a folder with train and dev files"])
        return load_examples(source, split=split, skip_bad_rows=self.skip_bad_rows, report=report,
                             text_column=self.text_column, pair_column=self.pair_column,
                             label_column=self.label_column)


@dataclass
class RunConfig:
    model: str | None
    data: DataConfig
    output: str
    ptuning: PTuningConfig = field(default_factory=PTuningConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {"model": canonical_model_name(self.model), "data": dataclasses.asdict(self.data),
                "output": str(self.output), "ptuning": self.ptuning.to_dict(), "training": self.training.to_dict()}


def prepare_output(output: Path, *, run: RunConfig, resume: bool, overwrite: bool) -> None:
    """Never lose a user's work: refuse to reuse a folder unless told how (resume or overwrite)."""
    saved = output / RUN_CONFIG_FILE
    if resume:
        if not has_checkpoint(output):
            raise PtuneError(f"--resume: {output} has no checkpoint to resume from; drop --resume to start a new run")
        previous = json.loads(saved.read_text())
        if {k: v for k, v in previous.items() if k != "output"} != {k: v for k, v in run.to_dict().items() if k != "output"}:
            raise PtuneError(f"--resume: the settings differ from the run in {output} (see {saved}); "
                             "resume with the same flags, or start a new run in another folder")
        return
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise PtuneError(f"{output} is not empty; pass --overwrite to replace the run in it, "
                             "--resume to continue it, or choose another --output")
        if not (saved.exists() or (output / CONFIG_FILE).exists()):
            raise PtuneError(f"{output} is not empty and is not a ptune run folder; refusing to delete it "
                             "even with --overwrite. Choose an empty or new folder.")
        for name in RUN_FILES:
            target = output / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    write_json(saved, run.to_dict())


def make_accelerator(precision: str):
    from accelerate import Accelerator

    # cpu=True is what lets accelerate run several CPU processes (torchrun / accelerate launch).
    options = {"mixed_precision": resolve_precision(precision), "cpu": not torch.cuda.is_available()}
    try:
        return Accelerator(**options)
    except ValueError:
        # accelerate keeps one global state per process; a second run in the same process (a
        # notebook, a test) with another precision must reset it first.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
        return Accelerator(**options)


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision value: bf16 when asked, or for `auto` where bf16 is native."""
    if precision == "bf16" or (precision == "auto" and bf16_is_native()):
        return "bf16"
    return "no"


def bf16_is_native() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def train(run: RunConfig, *, resume: bool = False, overwrite: bool = False, log=print,
          show_progress: bool = True) -> dict:
    """Trains, keeps the best adapter (by dev metric) in run.output, returns the metrics dict."""
    output = Path(run.output)
    torch.manual_seed(run.training.seed)
    report = LoadReport()
    train_examples = run.data.read("train", report)
    dev_examples = run.data.read("dev", report)
    if report.skipped:
        log(f"skipped {len(report.skipped)} malformed row(s); first: {report.skipped[0]}")
    if run.training.max_train_samples:
        train_examples = train_examples[: run.training.max_train_samples]
    labels = LabelSet.from_examples(train_examples)
    if len(labels) < 2:
        raise PtuneError(f"the training data has {len(labels)} distinct label(s) {list(labels.names)}; need 2 or more")
    backbone, tokenizer = load_backbone(run.model)
    model = PTuningModel(backbone, run.ptuning, num_labels=len(labels), seed=run.training.seed)
    accelerator = make_accelerator(run.training.precision)
    if accelerator.is_main_process:
        prepare_output(output, run=run, resume=resume, overwrite=overwrite)
    accelerator.wait_for_everyone()
    length = model.max_text_length()
    train_features = tokenize(train_examples, tokenizer=tokenizer, max_length=length, labels=labels)
    dev_features = tokenize(dev_examples, tokenizer=tokenizer, max_length=length, labels=labels)
    backbone_print = fingerprint(backbone)

    def save_best(metrics: dict) -> None:
        if accelerator.is_main_process:
            save_adapter(accelerator.unwrap_model(model), output, label_names=list(labels.names),
                         backbone_name=run.model, overwrite=True, backbone_fingerprint=backbone_print,
                         extra={"dev_metrics": {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}})
            accelerator.unwrap_model(model).unfold_prompt()

    result = fit(model, train_features=train_features, dev_features=dev_features, config=run.training,
                 run_dir=output, pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                 accelerator=accelerator, resume=resume, on_best=save_best, show_progress=show_progress)
    counts = accelerator.unwrap_model(model).parameter_counts()
    state = result.state
    metrics = {
        "best_step": state.best_step, "best_dev": {run.training.metric: state.best_metric},
        "final_dev": result.final_metrics, "steps": state.step, "steps_total": result.steps_total,
        "train_examples": len(train_features), "dev_examples": len(dev_features), "skipped_rows": len(report.skipped),
        "train_seconds": state.train_seconds, "train_samples_per_s": state.samples_seen / max(state.train_seconds, 1e-9),
        "parameters": counts, "trainable_percent": 100 * counts["trainable"] / counts["total"],
        "inference_bytes": inference_size_bytes(output) if (output / CONFIG_FILE).exists() else None,
        "label_names": list(labels.names), "precision": resolve_precision(run.training.precision),
        "processes": accelerator.num_processes,
    }
    metrics["is_main_process"] = accelerator.is_main_process
    if accelerator.is_main_process:
        write_json(output / "metrics.json", {k: v for k, v in metrics.items() if k != "is_main_process"})
    return metrics
