"""One grid cell: train and evaluate one method with one seed under the protocol, measure its costs.

    python -m ptune.lab.compare.cell PROTOCOL_JSON METHOD SEED OUT_JSON

The grid runs every cell in its own process (clean peak memory, no state shared between
methods); tests call `run_cell` directly.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from ptune.lab.compare.methods import BuildContext, parse_method
from ptune.lab.compare.protocol import ProtocolConfig
from ptune.lab.flops import ptuning_flops

THREADS_ENV = "PTUNE_THREADS"


def run_cell(protocol: ProtocolConfig, method_text: str, seed: int) -> dict:
    """The result row of one (method, seed): metrics, costs, settings and the loss curve."""
    import transformers

    from ptune.engine.backbone import resolve_model_path
    from ptune.config import TrainConfig
    from ptune.tasks import get_task
    from ptune.engine.batched import predict_outputs
    from ptune.training.loop import fit, learning_rates_for
    from ptune.runtime import resolve_precision
    from ptune.training.run import make_accelerator

    transformers.logging.set_verbosity_error()
    spec = parse_method(method_text)
    task = get_task(protocol.task)
    torch.manual_seed(seed)
    train, dev, labels = protocol.examples(seed)
    model_path = resolve_model_path(protocol.model)
    context = BuildContext(model_name=protocol.model, model_path=model_path, num_labels=len(labels), seed=seed,
                           max_length=protocol.max_length, task=task.name, labels=labels,
                           inputs=task.input_form_of(train))
    model = spec.method.build(context, spec.model_settings)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    text_length = min(protocol.max_length, model.max_text_length()) if hasattr(model, "max_text_length") \
        else protocol.max_length
    settings = adapted_task_config(model, task, train)
    train_features = task.features(train, tokenizer=tokenizer, max_length=text_length, labels=labels, config=settings)
    dev_features = task.features(dev, tokenizer=tokenizer, max_length=text_length, labels=labels, config=settings)
    config = TrainConfig(**{
        "epochs": protocol.epochs, "batch_size": protocol.batch_size, "eval_batch_size": protocol.eval_batch_size,
        "eval_every": protocol.eval_every,
        "precision": protocol.precision, "group_by_length": protocol.group_by_length, "seed": seed,
        "lr": spec.method.lr, "head_lr": spec.method.head_lr, **spec.train_settings})
    if "lr" in spec.train_settings and "head_lr" not in spec.train_settings and spec.method.source == "peft":
        config.head_lr = config.lr  # PEFT trains its classifier with the method's one learning rate
    closed_form = getattr(model, "fits_in_closed_form", False)
    if closed_form and {"lr", "head_lr"} & set(spec.train_settings):
        from ptune.errors import ConfigError

        raise ConfigError("method", [f"{spec.text}: fitted in closed form, it has no learning rate; "
                                     "leave out lr= and head_lr= (its regularisation is chosen by cross-validation)"])
    if not closed_form:
        config = learning_rates_for(model, config, train_rows=len(train))
    accelerator = make_accelerator(config.precision)
    with tempfile.TemporaryDirectory() as run_dir:
        if closed_form:
            result = fit_closed_form(model, train_features=train_features, dev_features=dev_features, config=config,
                                     pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                                     accelerator=accelerator, examples=train)
        else:
            result = fit(model, train_features=train_features, dev_features=dev_features, config=config,
                         run_dir=Path(run_dir), pad_token_id=tokenizer.pad_token_id, label_names=labels.names,
                         accelerator=accelerator, show_progress=False)
        log = Path(run_dir) / "train_log.jsonl"
        losses = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        model = accelerator.unwrap_model(model)
        model.eval()
        if hasattr(model, "fold_prompt"):
            model.fold_prompt()  # what ptune serves: the prompt table, no encoder
        eval_seconds = []
        for _ in range(protocol.eval_repeats):
            started = time.perf_counter()
            predict_outputs(model, dev_features, batch_size=protocol.eval_batch_size,
                            pad_token_id=tokenizer.pad_token_id, accelerator=accelerator, collate_fn=task.collate)
            eval_seconds.append(time.perf_counter() - started)
        inference_bytes, inference_parameters = inference_files(model, Path(run_dir) / "inference", labels)
    counts = model.parameter_counts()
    added_tokens = added_input_tokens(model)
    flops = ptuning_flops(transformers.AutoConfig.from_pretrained(model_path),
                          text_lengths=[len(f["input_ids"]) for f in train_features], num_virtual_tokens=added_tokens,
                          deep_prompt_tokens=deep_prompt_tokens(model))
    epochs = state_epochs(result, train_features, config)
    state, metrics = result.state, result.final_metrics
    return {
        "method": spec.text, "base_method": spec.method.name, "label": spec.method.label, "seed": seed,
        "settings": spec.settings, "task": task.name, "inputs": context.inputs, "metric": task.primary_metric,
        "dev_score": metrics[task.primary_metric],
        **{f"dev_{name}": value for name, value in task.headline(metrics).items()},
        **({"dev_per_type": metrics["per_type"]} if "per_type" in metrics else {}),
        **({"dev_majority": majority_share(dev_features)} if task.name == "classification" else {}),
        "train_examples": len(train), "dev_examples": len(dev), "steps": result.steps_total,
        # model inputs: one per example, or several (QA: windows of a long context)
        "train_features": len(train_features), "dev_features": len(dev_features),
        "train_seconds": state.train_seconds, "train_samples_per_s": state.samples_seen / state.train_seconds,
        "eval_samples_per_s": len(dev_features) / sorted(eval_seconds)[len(eval_seconds) // 2],
        "eval_repeats": len(eval_seconds),
        "trainable_parameters": counts["trainable"], "total_parameters": counts["total"],
        "trainable_percent": 100 * counts["trainable"] / counts["total"],
        "inference_parameters": inference_parameters, "inference_bytes": inference_bytes,
        # text tokens only (comparable across methods), and text + the tokens the method adds
        "useful_train_gflops_per_s": flops["text_train"] * epochs / state.train_seconds / 1e9,
        "train_gflops_per_s": flops["train"] * epochs / state.train_seconds / 1e9,
        "added_input_tokens": added_tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "learning_rates": {"lr": config.lr, "head_lr": config.head_lr},
        **({"closed_form_fit": model.fit_report} if closed_form else {}),
        **({"start": result.start} if getattr(result, "start", None) else {}),  # the adapter's start (ptune.training.start)
        "precision": "bf16" if resolve_precision(config.precision) == "bf16" else "fp32", "group_by_length": config.group_by_length,
        "loss_curve": [[entry["step"], entry["loss"]] for entry in losses if "loss" in entry],
        "torch": torch.__version__, "threads": torch.get_num_threads(), "code": code_version(),
    }


def fit_closed_form(model, *, train_features, dev_features, config, pad_token_id, label_names, accelerator,
                    examples=None):
    """A head fitted in closed form (the logistic probe) instead of the training loop, scored on
    dev once afterwards, as the loop scores its last step."""
    from ptune.training.checkpoint import LoopState
    from ptune.training.loop import FitResult, evaluate

    raw = {"examples": examples} if getattr(model, "wants_examples", False) else {}  # SetFit tokenises its own pairs
    model.fit_closed_form(train_features, pad_token_id=pad_token_id, batch_size=config.eval_batch_size,
                          seed=config.seed, **raw)
    state = LoopState(train_seconds=model.fit_report["seconds"], samples_seen=len(train_features))
    metrics = evaluate(model, dev_features, config=config, pad_token_id=pad_token_id, label_names=label_names,
                       accelerator=accelerator, task=model.task)
    model.eval()
    return FitResult(state=state, final_metrics=metrics, steps_total=0)


def adapted_task_config(model, task, train: list):
    """The model's task settings (ptune's, or the linear probe's) with what the training data
    decides filled in (QA: SQuAD 2.0), set back on the model so its evaluation decodes the same way."""
    from ptune.config import PTuningConfig

    if isinstance(getattr(model, "config", None), PTuningConfig):
        model.config.task = task.adapt_config(model.config.task, train)
        return model.config.task
    if hasattr(model, "task_config"):
        model.task_config = task.adapt_config(model.task_config, train)
        return model.task_config
    settings = task.adapt_config(task.config_cls(), train)
    model.task_config = settings  # the transformers baselines decode with the task's defaults
    return settings


def code_version() -> str | None:
    """The git commit of the ptune source that ran the cell ("-dirty" if it had uncommitted
    changes), so a grid's rows can be traced to code; None outside a git checkout."""
    import subprocess

    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                                   capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (described.stdout.strip() or None) if described.returncode == 0 else None


def added_input_tokens(model) -> int:
    """Tokens a method adds to every input sequence: the virtual tokens of P-tuning and prompt
    tuning. Prefix tuning's prefixes extend only the attention keys and values: 0, like LoRA."""
    if hasattr(model, "input_tokens"):
        return model.input_tokens  # deep prompts add none
    peft_config = getattr(getattr(model, "inner", None), "peft_config", {}).get("default")
    if peft_config is not None and peft_config.peft_type.value in ("P_TUNING", "PROMPT_TUNING"):
        return peft_config.num_virtual_tokens
    return 0


def majority_share(features: list[dict]) -> float:
    """Accuracy of always answering the most frequent dev label."""
    from collections import Counter

    return Counter(f["label"] for f in features).most_common(1)[0][1] / len(features)


def deep_prompt_tokens(model) -> int:
    """Keys/values a method adds to every attention layer without adding positions: ptune's deep
    prompts (PEFT's prefix tuning does too; it is counted with the text, as before)."""
    from ptune.config import PTuningConfig
    from ptune.injections import INJECTIONS

    config = getattr(model, "config", None)
    keys_only = isinstance(config, PTuningConfig) and INJECTIONS[config.injection].needs_attention_hook
    return model.num_virtual_tokens if keys_only else 0


def state_epochs(result, train_features, config) -> float:
    """Epochs actually trained (early stopping or a fractional budget can make it less than asked)."""
    return result.state.samples_seen / len(train_features)


def inference_files(model, folder: Path, labels) -> tuple[int, int]:
    """(bytes on disk, parameters) of what inference needs beyond the public backbone."""
    from ptune.engine.model import save_adapter
    from ptune.format.artifacts import inference_size_bytes

    if hasattr(model, "save_inference_files"):
        return model.save_inference_files(folder)
    save_adapter(model, folder, label_names=list(labels.names), backbone_name=None)
    return inference_size_bytes(folder), model.parameter_counts()["inference"]


def failure_row(method_text: str, seed: int) -> dict:
    error = traceback.format_exc()
    return {"method": method_text, "seed": seed, "error": error,
            "error_summary": (error.strip().splitlines() or ["unknown error"])[-1]}


def main(argv: list[str]) -> None:
    protocol_json, method_text, seed, out = argv
    if os.environ.get(THREADS_ENV):  # benchmark protocols fix the thread count
        torch.set_num_threads(int(os.environ[THREADS_ENV]))
    try:
        row = run_cell(ProtocolConfig(**json.loads(protocol_json)), method_text, int(seed))
    except Exception:
        row = failure_row(method_text, int(seed))
    from ptune.lab.compare.cells import write_cell

    write_cell(Path(out), row)


if __name__ == "__main__":
    main(sys.argv[1:])
