"""`ptune eval`: an adapter's metrics on labelled data, optionally beside the prompt-free base."""
from __future__ import annotations

import dataclasses

from ptune.data import LabelSet, LoadReport, load_examples
from ptune.engine.batched import predict_outputs
from ptune.errors import ConfigError, DataError
from ptune.inference.predictor import Predictor
from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION


def evaluate_adapter(adapter, *, data: str, split: str = "dev", model_name: str | None = None,
                     allow_backbone_mismatch: bool = False, compare_base: bool = False,
                     train_data: str | None = None, base_train_samples: int | None = None,
                     batch_size: int = 64, precision: str = DEFAULT_PRECISION, quantize: str | None = None,
                     compile: bool = False, device: str = DEFAULT_DEVICE) -> dict:
    if batch_size < 1:
        raise ConfigError("eval", [f"batch_size={batch_size}: expected >= 1"])
    from ptune.format.exported import is_shared_export

    if is_shared_export(adapter):
        if compare_base or model_name or quantize or compile or allow_backbone_mismatch:
            raise ConfigError("eval", [f"{adapter} is an ONNX export (made with --backbone-graph): --compare-base, "
                                       "--model, --quantize, --compile and --allow-backbone-mismatch do not apply; "
                                       "evaluate the adapter folder for those"])
        return evaluate_export(adapter, data=data, split=split, batch_size=batch_size)
    predictor = Predictor(adapter, model_name=model_name, batch_size=batch_size,
                          allow_backbone_mismatch=allow_backbone_mismatch, precision=precision,
                          quantize=quantize, compile=compile, device=device)
    task = predictor.task
    labels = LabelSet(tuple(predictor.label_names))
    examples = labelled_examples(task, labels, predictor.adapter_config.get("label_aliases") or {}, data, split)
    settings = predictor.model.config.task
    features = task.features(examples, tokenizer=predictor.tokenizer, max_length=predictor.model.max_text_length(),
                             labels=labels, config=settings)
    outputs = predict_outputs(predictor.forward, features, batch_size=batch_size,
                              pad_token_id=predictor.tokenizer.pad_token_id, device=predictor.device,
                              bf16=predictor.bf16, collate_fn=task.collate)
    result = {"adapter": str(adapter), "data": str(data), "split": split, "task": task.name,
              "label_names": list(labels.names), "metrics": task.metrics(outputs, features, list(labels.names), config=settings)}
    if compare_base:
        if task.name != "classification":
            raise ConfigError("eval", [f"--compare-base fits a linear head on pooled states: classification only, "
                                       f"not {task.name}"])
        seen = predictor.adapter_config.get("train_examples")
        result["base"] = base_metrics(predictor, labels=labels, data=train_data or data, evaluate=examples,
                                      limit=base_train_samples or seen)
    return result


def labelled_examples(task, labels: LabelSet, aliases: dict, data: str, split: str) -> list:
    examples = task.read(data, split=split, report=LoadReport())
    if aliases and task.name == "classification":  # labels as the training files wrote them
        examples = [dataclasses.replace(e, label=aliases.get(e.label, e.label)) for e in examples]
    if not examples:
        raise DataError(f"{data}: the {split} split has no examples (only a header?); nothing to evaluate")
    task.check_labels(examples, labels, str(data))
    return examples


def evaluate_export(export, *, data: str, split: str = "dev", batch_size: int = 64, precision: str = "fp32") -> dict:
    """The metrics of an export made with --backbone-graph, run by ONNX Runtime as a server runs it
    (`precision`: fp32, or int8, the graph's quantised copy)."""
    from ptune.inference.onnx_bank import ExportPredictor

    predictor = ExportPredictor(export, batch_size=batch_size, precision=precision)
    task, labels = predictor.task, LabelSet(tuple(predictor.label_names))
    examples = labelled_examples(task, labels, predictor.adapter_config.get("label_aliases") or {}, data, split)
    features = predictor.features(examples, labels=labels)
    outputs = predictor.outputs(features)
    return {"adapter": str(export), "data": str(data), "split": split, "task": task.name, "runtime": "onnx",
            "precision": precision, "label_names": list(labels.names),
            "metrics": task.metrics(outputs, features, list(labels.names), config=predictor.entry.adapter.config.task)}


def base_metrics(predictor: Predictor, *, labels: LabelSet, data: str, evaluate, limit: int | None) -> dict:
    """The prompt-free linear probe, fitted on as many training examples as the adapter saw
    (the first `limit` of the train split; all of them when the adapter did not record it)."""
    from ptune.inference.baseline import linear_probe_metrics

    train = load_examples(data, split="train", report=LoadReport())
    train = train[:limit] if limit else train
    return linear_probe_metrics(predictor.model.backbone, predictor.tokenizer, train=train, evaluate=evaluate,
                                labels=labels, pooling=predictor.model.config.task.pooling,
                                max_length=predictor.model.config.max_length)
