"""Adapter folders: what a trained P-tuning model is on disk.

    ptune_config.json           configs, backbone name + weight fingerprint, labels, versions
    inference.safetensors       prompt_table (k, hidden) + head: all that inference needs
    prompt_encoder.safetensors  the full encoder, so training can resume or continue

Every file is written to a temp name and renamed; the config is written last, so a folder with a
config is complete. An existing adapter is never replaced unless `overwrite=True`.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ptune import __version__
from ptune.backbone import canonical_model_name, fingerprint, load_backbone
from ptune.config import PTuningConfig
from ptune.errors import ArtifactError

CONFIG_FILE = "ptune_config.json"
INFERENCE_FILE = "inference.safetensors"
ENCODER_FILE = "prompt_encoder.safetensors"
FORMAT_VERSION = 1


def _atomic_write(path: Path, write) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp))
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def versions() -> dict[str, str]:
    import transformers

    return {"ptune": __version__, "torch": torch.__version__, "transformers": transformers.__version__}


def save_adapter(model, directory: str | Path, *, label_names: list[str], backbone_name: str | None,
                 overwrite: bool = False, extra: dict | None = None, backbone_fingerprint: str | None = None) -> Path:
    directory = Path(directory)
    if (directory / CONFIG_FILE).exists() and not overwrite:
        raise ArtifactError(f"{directory} already holds an adapter; pass overwrite=True (--overwrite) to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    table = model.fold_prompt() if model.encoder is not None else model.prompt_table
    inference = {"prompt_table": table.detach().cpu().contiguous()}
    inference.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()})
    _atomic_write(directory / INFERENCE_FILE, lambda p: save_file(inference, p))
    if model.encoder is not None:
        encoder = {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
        _atomic_write(directory / ENCODER_FILE, lambda p: save_file(encoder, p))
    config = {
        "format_version": FORMAT_VERSION,
        "task": {"type": "sequence_classification", "label_names": list(label_names)},
        "backbone": {
            "name": canonical_model_name(backbone_name),
            "fingerprint": backbone_fingerprint or fingerprint(model.backbone),
            "model_type": model.backbone.config.model_type,
            "hidden_size": model.backbone.config.hidden_size,
        },
        "ptuning": model.config.to_dict(),
        "parameters": model.parameter_counts(),
        "versions": versions(),
        **(extra or {}),
    }
    _atomic_write(directory / CONFIG_FILE, lambda p: p.write_text(json.dumps(config, indent=2) + "\n"))
    return directory


def read_adapter_config(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ArtifactError(f"{directory} is not a ptune adapter: {CONFIG_FILE} is missing "
                            "(train one with `ptune train --output DIR`)")
    config = json.loads(path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path}: format_version {config.get('format_version')} is not {FORMAT_VERSION}; "
                            f"this ptune ({__version__}) cannot read it")
    return config


def load_adapter(directory: str | Path, *, backbone=None, tokenizer=None, model_name: str | None = None,
                 allow_backbone_mismatch: bool = False, with_encoder: bool = False):
    """Returns (PTuningModel in inference mode, tokenizer, adapter config dict).

    `backbone`/`tokenizer` reuse an already loaded backbone; `model_name` loads another copy of
    the backbone (e.g. a local path when the artifact names a Hub model). `with_encoder` also
    loads the prompt encoder weights, for continued training.
    """
    from ptune.model import PTuningModel

    directory = Path(directory)
    config = read_adapter_config(directory)
    if backbone is None:
        backbone, tokenizer = load_backbone(model_name or config["backbone"]["name"])
    found = fingerprint(backbone)
    if found != config["backbone"]["fingerprint"] and not allow_backbone_mismatch:
        raise ArtifactError(
            f"{directory} was trained on backbone {config['backbone']['name']!r} with weights "
            f"{config['backbone']['fingerprint'][:23]}..., but the loaded backbone's weights are "
            f"{found[:23]}...; load the same backbone, or pass --allow-backbone-mismatch "
            "(allow_backbone_mismatch=True) if you know the difference is harmless"
        )
    ptuning = PTuningConfig.from_dict(config["ptuning"])
    model = PTuningModel(backbone, ptuning, num_labels=len(config["task"]["label_names"]))
    inference = load_file(directory / INFERENCE_FILE)
    model.head.load_state_dict({k[5:]: v for k, v in inference.items() if k.startswith("head.")})
    if with_encoder:
        if not (directory / ENCODER_FILE).exists():
            raise ArtifactError(f"{directory}: {ENCODER_FILE} is missing, so training cannot continue from it")
        model.encoder.load_state_dict(load_file(directory / ENCODER_FILE))
    else:
        model.encoder = None  # inference never runs the encoder
    model.prompt_table.copy_(inference["prompt_table"])
    model.uses_prompt_table = not with_encoder
    model.eval()
    return model, tokenizer, config


def inference_size_bytes(directory: str | Path) -> int:
    return (Path(directory) / INFERENCE_FILE).stat().st_size
