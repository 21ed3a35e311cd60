"""Adapter folders: what a trained P-tuning model is on disk.

    ptune_config.json           configs, backbone name + weight fingerprint, labels, versions
    inference.safetensors       prompt_table (k, hidden) + head: all that inference needs
    prompt_encoder.safetensors  the full encoder, so training can resume or continue

Every file is written to a temp name and renamed; the config is written last, so a folder with a
config is complete. An existing adapter is never replaced unless `overwrite=True`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ptune import __version__
from ptune.config import PTuningConfig
from ptune.engine.backbone import canonical_model_name, fingerprint, load_backbone
from ptune.errors import ArtifactError
from ptune.format.adapter_checks import config_problems, finite_or_refuse, recorded_backbone
from ptune.format.files import write_together
from ptune.format.hub_ids import backbone_hub_id
from ptune.format.runs import recover_replaced_run

CONFIG_FILE = "ptune_config.json"
INFERENCE_FILE = "inference.safetensors"
ENCODER_FILE = "prompt_encoder.safetensors"
CARD_FILE = "README.md"
ADAPTER_FILES = [CONFIG_FILE, INFERENCE_FILE, ENCODER_FILE, CARD_FILE]
"""What an adapter folder (and its Hub repo) holds."""
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Format 1 (ptune 0.1, classification only) loads unchanged: its head settings move into the task config."""


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
    broken = sorted(name for name, tensor in inference.items() if not torch.isfinite(tensor).all())
    if broken:
        raise ArtifactError(f"refusing to save an adapter to {directory} whose {', '.join(broken)} hold NaN or "
                            "infinite values; the training that made them diverged")
    writers = {directory / INFERENCE_FILE: lambda p: save_file(inference, p)}
    if model.encoder is not None:
        encoder = {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
        writers[directory / ENCODER_FILE] = lambda p: save_file(encoder, p)
    config = {
        "format_version": FORMAT_VERSION,
        "task": {"type": model.config.task.name, "label_names": list(label_names)},
        "backbone": {
            "name": canonical_model_name(backbone_name),
            "hub_id": backbone_hub_id(backbone_name),
            "fingerprint": backbone_fingerprint or fingerprint(model.backbone),
            "model_type": model.backbone.config.model_type,
            "hidden_size": model.backbone.config.hidden_size,
        },
        "ptuning": model.config.to_dict(),
        "parameters": model.parameter_counts(),
        "versions": versions(),
        **(extra or {}),
    }
    writers[directory / CONFIG_FILE] = lambda p: p.write_text(json.dumps(config, indent=2) + "\n")
    write_together(writers, what="adapter")  # all of it or none: a full disk never mixes two adapters
    return directory


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


def load_adapter(directory: str | Path, *, backbone=None, tokenizer=None, model_name: str | None = None,
                 allow_backbone_mismatch: bool = False, with_encoder: bool = False):
    """Returns (PTuningModel in inference mode, tokenizer, adapter config dict).

    `backbone`/`tokenizer` reuse an already loaded backbone; `model_name` loads another copy of
    the backbone (e.g. a local path when the artifact names a Hub model). `with_encoder` also
    loads the prompt encoder weights, for continued training.
    """
    from ptune.engine.model import PTuningModel
    directory = resolve_adapter(directory)
    config = read_adapter_config(directory)
    ptuning = adapter_settings(directory, config)
    if backbone is None:
        backbone, tokenizer = load_backbone(model_name or backbone_to_load(config["backbone"], directory))
    check_backbone(directory, config, fingerprint(backbone), allow_mismatch=allow_backbone_mismatch)
    model = PTuningModel(backbone, ptuning, num_labels=len(config["task"]["label_names"]))
    load_adapter_weights(model.adapter, directory, config, with_encoder=with_encoder)
    model.eval()
    return model, tokenizer, config


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


def adapter_settings(directory: Path, config: dict) -> PTuningConfig:
    from ptune.errors import PtuneError

    try:
        return PTuningConfig.from_dict(config["ptuning"])
    except PtuneError as err:
        raise ArtifactError(f"{directory / CONFIG_FILE}: damaged ptuning settings: {err}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as err:  # a field of the wrong kind deeper down
        raise ArtifactError(f"{directory / CONFIG_FILE}: damaged ptuning settings ({type(err).__name__}: {err}); "
                            "restore it from a copy or train again") from None


def load_adapter_weights(adapter, directory: Path, config: dict, *, with_encoder: bool = False) -> None:
    """Fill a freshly built TaskAdapter from an adapter folder: prompt table and head (and the
    encoder when `with_encoder`), each checked against the shapes the config implies."""
    settings = adapter.config
    inference = load_tensors(directory / INFERENCE_FILE)
    finite_or_refuse(directory / INFERENCE_FILE, inference)
    head = {k[5:]: v for k, v in inference.items() if k.startswith("head.")}
    check_shapes(directory / INFERENCE_FILE,
                 {"prompt_table": adapter.prompt_table, **{f"head.{k}": v for k, v in adapter.head.state_dict().items()}},
                 {"prompt_table": inference.get("prompt_table"), **{f"head.{k}": v for k, v in head.items()}},
                 hint=f"it was made for {len(config['task']['label_names'])} labels, {settings.num_virtual_tokens} "
                      f"virtual tokens and a backbone of hidden size {adapter.hidden_size}")
    adapter.head.load_state_dict(head)
    if with_encoder:
        encoder = load_tensors(directory / ENCODER_FILE)
        finite_or_refuse(directory / ENCODER_FILE, encoder)
        check_shapes(directory / ENCODER_FILE, adapter.encoder.state_dict(), encoder, hint="the encoder settings differ")
        adapter.encoder.load_state_dict(encoder)
    else:
        adapter.encoder = None  # inference never runs the encoder
    adapter.prompt_table.copy_(inference["prompt_table"])
    adapter.uses_prompt_table = not with_encoder


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
