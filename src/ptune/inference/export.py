"""`ptune export --format onnx`: an adapter folded into its backbone as one ONNX graph.

The export folder runs without ptune or PyTorch: `model.onnx` (input_ids, attention_mask,
token_type_ids -> logits, batch and length dynamic), the backbone's tokenizer files, and
`ptune_export.json` (task, labels, the text length limit). The export is checked against PyTorch
on a padded batch and the largest absolute logit difference is reported.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch

from ptune.errors import PtuneError
from ptune.tasks import get_task
from ptune.format.exported import EXPORT_FILE, INPUTS, MODEL_FILE
from ptune.format.files import atomic_write, check_output_folder
from ptune.format.lock import output_lock


def require_onnx():
    from ptune.extras import require

    require("onnx", "ONNX export")
    import onnxruntime

    return onnxruntime


def export_onnx(adapter, output: str | Path, *, overwrite: bool = False, model_name: str | None = None,
                allow_backbone_mismatch: bool = False) -> dict:
    ort = require_onnx()
    from ptune.engine.model import load_adapter

    output = check_output_folder(output)
    if (output / "ptune_config.json").exists() or (output / "run_config.json").exists():
        raise PtuneError(f"--output {output}: that folder holds an adapter or run; export into another folder")
    if (output / "model.onnx").exists() and not overwrite:
        raise PtuneError(f"--output {output}: model.onnx exists; pass --overwrite to replace it, or choose another folder")
    model, tokenizer, config = load_adapter(adapter, model_name=model_name, allow_backbone_mismatch=allow_backbone_mismatch)
    model.eval()
    with output_lock(output, command="ptune export"):  # one writer per export folder
        if (output / MODEL_FILE).exists() and not overwrite:  # written meanwhile by another export
            raise PtuneError(f"--output {output}: model.onnx exists; pass --overwrite to replace it, or choose another "
                             "folder")
        return write_export(model, tokenizer, config, output, ort)


def write_export(model, tokenizer, config: dict, output: Path, ort) -> dict:
    """The export files, each written whole (a temp name, then a rename), the config last."""
    sample = tokenizer(["an example to trace the graph with", "a shorter one"], padding=True, return_tensors="pt")
    example = tuple(sample.get(name, torch.zeros_like(sample["input_ids"])) for name in INPUTS)
    dynamic = {name: {0: torch.export.Dim("batch"), 1: torch.export.Dim("length", min=2, max=model.max_text_length())}
               for name in INPUTS}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # notes about absent torchvision ops, which no ptune model uses
    with warnings.catch_warnings():  # and about shared dimension names
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, example, input_names=list(INPUTS), output_names=["logits"],
                                    dynamic_shapes=dynamic, dynamo=True, verbose=False)
    quiet.setLevel(level)
    atomic_write(output / MODEL_FILE, lambda temp: program.save(str(temp)))
    tokenizer.save_pretrained(output)
    export_config = json.dumps({
        "task": config["task"]["type"], "label_names": config["task"]["label_names"],
        "max_text_length": model.max_text_length(), "inputs": list(INPUTS), "outputs": ["logits"],
        "backbone": config["backbone"], "ptuning": config["ptuning"],
        "input_form": get_task(config["task"]["type"]).served_input_form(config.get("inputs"))}, indent=2) + "\n"
    atomic_write(output / EXPORT_FILE, lambda temp: temp.write_text(export_config))
    difference = check_against_torch(model, tokenizer, output / MODEL_FILE, ort)
    return {"output": str(output), "max_abs_logit_difference": difference}


def check_against_torch(model, tokenizer, path: Path, ort) -> float:
    """Largest |logit difference| between onnxruntime and PyTorch on a padded batch of other lengths."""
    texts = ["a check batch", "with sentences of quite different lengths, so that padding matters here", "ok"]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=model.max_text_length(), return_tensors="pt")
    feeds = {name: batch.get(name, torch.zeros_like(batch["input_ids"])).numpy() for name in INPUTS}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, feeds)[0]
    with torch.inference_mode():
        torch_logits = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    keep = batch["attention_mask"].bool().numpy()
    if torch_logits.ndim == 3:  # token logits: compare the real tokens only
        return float(abs(onnx_logits - torch_logits)[keep].max())
    return float(abs(onnx_logits - torch_logits).max())
