"""Adapter folders: what a trained P-tuning model is on disk.

    ptune_config.json           configs, backbone name + weight fingerprint, labels, versions
    inference.safetensors       prompt_table (k, hidden) + head: all that inference needs
    prompt_encoder.safetensors  the full encoder, so training can resume or continue

This module names the files, reads them back and checks them; a model writes and reads them through
ptune.engine.model (`save_adapter`, `load_adapter`): all files or none, never over an existing adapter
unless `overwrite=True`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ptune import __version__
from ptune.errors import ArtifactError
from ptune.format.adapter_checks import config_problems, recorded_backbone
from ptune.format.files import ADAPTER_CONFIG_FILE
from ptune.format.runs import recover_replaced_run

CONFIG_FILE = ADAPTER_CONFIG_FILE
INFERENCE_FILE = "inference.safetensors"
ENCODER_FILE = "prompt_encoder.safetensors"
CARD_FILE = "README.md"
ADAPTER_FILES = [CONFIG_FILE, INFERENCE_FILE, ENCODER_FILE, CARD_FILE]
"""What an adapter folder (and its Hub repo) holds."""
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Format 1 (ptune 0.1, classification only) loads unchanged: its head settings move into the task config."""


def read_adapter_config(directory: str | Path) -> dict:
    if Path(directory).is_dir():
        recover_replaced_run(directory)  # an interrupted --overwrite: the run it replaced comes back first
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ArtifactError(f"{directory} is not a ptune adapter: {CONFIG_FILE} is missing "
                            "(train one with `ptune train --output DIR`)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: damaged, not valid JSON ({err}); restore it from a copy or train again") from None
    if not isinstance(config, dict) or config.get("format_version") not in READABLE_VERSIONS:
        version = config.get("format_version") if isinstance(config, dict) else None
        raise ArtifactError(f"{path}: format_version {version!r} is not one this ptune ({__version__}) reads "
                            f"{list(READABLE_VERSIONS)}; upgrade ptune, or retrain the adapter")
    missing = [key for key in ("task", "backbone", "ptuning") if not isinstance(config.get(key), dict)]
    missing += [f"task.{k}" for k in ("label_names",) if not missing and k not in config["task"]]
    missing += [f"backbone.{k}" for k in ("name", "fingerprint") if "backbone" not in missing and k not in config["backbone"]]
    if missing:
        raise ArtifactError(f"{path}: damaged, missing {missing}; restore it from a copy or train again")
    problems = config_problems(config)
    if problems:
        raise ArtifactError(f"{path}: refused, {'; '.join(problems)}. Restore it from a copy or train again")
    return config


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise ArtifactError(f"{path.parent}: {path.name} is missing; the adapter folder is incomplete")
    try:
        return load_file(path)
    except Exception as err:  # safetensors raises its own error types for truncated or foreign files
        raise ArtifactError(f"{path}: damaged, not a readable safetensors file ({err}); "
                            "restore it from a copy or train again") from None


def check_backbone(directory, config: dict, found: str, *, allow_mismatch: bool = False, name: str | None = None) -> None:
    """Refuse an adapter whose recorded backbone weights differ from the loaded backbone's."""
    expected = config["backbone"]["fingerprint"]
    if found == expected or allow_mismatch:
        return
    who = f"adapter {name!r} ({directory})" if name else str(directory)
    raise ArtifactError(
        f"{who} was trained on backbone {config['backbone']['name']!r} with weights {expected[:23]}..., "
        f"but the loaded backbone's weights are {found[:23]}...; load the same backbone, or pass "
        "--allow-backbone-mismatch (allow_backbone_mismatch=True) if you know the difference is harmless")


def backbone_to_load(record: dict, directory: str | Path = "the adapter") -> str:
    """The backbone the adapter records, if it may name it by itself: the bundled model or a Hub id
    (a local folder's Hub repo when it came from one); a local path needs --model (adapter_checks)."""
    return recorded_backbone(directory, record)


def check_shapes(path: Path, expected: dict[str, torch.Tensor], found: dict, *, hint: str) -> None:
    """Every expected tensor present with the expected shape, or one ArtifactError naming them all."""
    problems = []
    for name, tensor in expected.items():
        other = found.get(name)
        if other is None:
            problems.append(f"{name} missing")
        elif tuple(other.shape) != tuple(tensor.shape):
            problems.append(f"{name} has shape {tuple(other.shape)}, expected {tuple(tensor.shape)}")
    if problems:
        raise ArtifactError(f"{path}: does not match its config ({'; '.join(problems)}); {hint}. "
                            "Was a file or the config edited, or is the backbone a different one?")


def inference_size_bytes(directory: str | Path) -> int:
    return (Path(directory) / INFERENCE_FILE).stat().st_size


def resolve_adapter(name_or_path: str | Path, *, revision: str | None = None) -> Path:
    """A local adapter folder as it is, or a Hub repo id downloaded (or found in the cache)."""
    path = Path(name_or_path)
    if path.is_dir() or str(name_or_path).startswith((".", "/", "~")) or str(name_or_path).count("/") != 1:
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(name_or_path), revision=revision, allow_patterns=ADAPTER_FILES))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        raise ArtifactError(f"{name_or_path!r} is neither an adapter folder here nor a Hub repo that could be "
                            f"downloaded or found in the cache ({type(err).__name__}: {err})") from None
