"""PTuningModel: a frozen prompted backbone and one task adapter (a bank of one), and its adapter
folder: `save_adapter` writes what inference needs (the folded prompt table and the head) and the
encoder, with a record of the settings, labels, backbone and versions; `load_adapter` builds the
model again from that record, refusing a backbone whose weights differ. The folder's files and their
checks are ptune.format.artifacts.

Data path (ptune.engine.core, the one forward of every path): input_ids -> PromptedBackbone (the
adapter's prompt injected at the input or in every attention layer) -> states -> the task's head -> logits. In inference mode the prompt encoder is
replaced by its output, a fixed table, so no encoder runs per request.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ptune import __version__
from ptune.config import PTuningConfig
from ptune.engine.adapter import TaskAdapter
from ptune.engine.backbone import canonical_model_name, fingerprint, load_backbone
from ptune.engine.core import Engine
from ptune.errors import ArtifactError
from ptune.format.adapter_checks import finite_or_refuse
from ptune.format.artifacts import (
    CONFIG_FILE,
    ENCODER_FILE,
    FORMAT_VERSION,
    INFERENCE_FILE,
    backbone_to_load,
    check_backbone,
    check_shapes,
    load_tensors,
    read_adapter_config,
    resolve_adapter,
)
from ptune.format.files import write_together
from ptune.format.hub import write_model_card
from ptune.format.hub_ids import backbone_hub_id
from ptune.settings import resolve_ptuning


class PTuningModel(nn.Module):
    def __init__(self, backbone: nn.Module, config: PTuningConfig, *, num_labels: int, seed: int = 0):
        super().__init__()
        self.engine = Engine(backbone)  # an engine with one adapter: the forward of every path
        self.prompted = self.engine.prompted
        self.backbone = backbone
        self.config = config = resolve_ptuning(config)
        self.num_labels = num_labels
        self.adapter = TaskAdapter(config, backbone=self.prompted, num_labels=num_labels, seed=seed)

    def use_adapter(self, adapter: TaskAdapter) -> "PTuningModel":
        """This model with `adapter` (one built on `self.prompted`, e.g. by `load_task_adapter`) in place
        of the one it was built with."""
        self.engine.attach(adapter)
        self.adapter, self.config, self.num_labels = adapter, adapter.config, adapter.num_labels
        return self

    # The adapter's parts, under the names the loop, artifacts and tests use.
    encoder = property(lambda self: self.adapter.encoder)
    head = property(lambda self: self.adapter.head)
    prompt_table = property(lambda self: self.adapter.prompt_table)
    task = property(lambda self: self.adapter.task)

    @encoder.setter
    def encoder(self, value) -> None:
        self.adapter.encoder = value

    @property
    def uses_prompt_table(self) -> bool:
        return self.adapter.uses_prompt_table

    @uses_prompt_table.setter
    def uses_prompt_table(self, value: bool) -> None:
        self.adapter.uses_prompt_table = value

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.prompted.word_embeddings

    @property
    def num_virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    @property
    def input_tokens(self) -> int:
        return self.adapter.input_tokens

    def max_text_length(self) -> int:
        """Longest text (in word pieces, with [CLS]/[SEP]) that fits beside the virtual tokens."""
        room = self.prompted.max_text_length(input_tokens=self.input_tokens, placement=self.config.placement)
        return min(self.config.max_length, room)

    def train(self, mode: bool = True) -> "PTuningModel":
        super().train(mode)
        if mode and not self.config.backbone_dropout:
            self.backbone.eval()
        return self

    def prompt(self) -> torch.Tensor:
        return self.adapter.prompt()

    def fold_prompt(self) -> torch.Tensor:
        return self.adapter.fold_prompt()

    def unfold_prompt(self) -> None:
        self.adapter.unfold_prompt()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq) token ids -> the task's logits: (batch, labels) or (batch, seq, labels)."""
        return self.engine.logits(input_ids, attention_mask, token_type_ids, adapter=self.adapter)

    def trainable_parameters(self) -> dict[str, list[nn.Parameter]]:
        return self.adapter.trainable_parameters()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return self.adapter.trainable_state_dict()

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.adapter.load_trainable_state_dict(state)

    # ---- sharing ------------------------------------------------------------------------
    def save_pretrained(self, directory, *, label_names: list[str], backbone_name: str | None = None,
                        overwrite: bool = False):
        """Write an adapter folder with a model card; `from_pretrained` and the Hub read it back."""
        folder = save_adapter(self, directory, label_names=label_names, backbone_name=backbone_name, overwrite=overwrite)
        write_model_card(folder)
        return folder

    @classmethod
    def from_pretrained(cls, name_or_path, *, backbone=None, tokenizer=None, with_encoder: bool = False,
                        allow_backbone_mismatch: bool = False) -> "PTuningModel":
        """An adapter from a folder or a Hub repo id (downloaded, or found in the Hub cache offline),
        on its recorded backbone or the one given."""
        model, _, _ = load_adapter(name_or_path, backbone=backbone, tokenizer=tokenizer, with_encoder=with_encoder,
                                   allow_backbone_mismatch=allow_backbone_mismatch)
        return model

    def parameter_counts(self) -> dict[str, int]:
        return parameter_counts(self.adapter, self.backbone)


def parameter_counts(adapter: TaskAdapter, backbone: nn.Module) -> dict[str, int]:
    """Trainable (encoder + head), frozen backbone, and what inference holds (prompt table + head)."""
    encoder = sum(p.numel() for p in adapter.encoder.parameters()) if adapter.encoder is not None else 0
    head = sum(p.numel() for p in adapter.head.parameters())
    total = sum(p.numel() for p in backbone.parameters())
    return {"encoder": encoder, "head": head, "trainable": encoder + head, "backbone": total,
            "total": total + encoder + head, "inference": adapter.prompt_table.numel() + head}


def versions() -> dict[str, str]:
    import transformers

    return {"ptune": __version__, "torch": torch.__version__, "transformers": transformers.__version__}


def save_adapter(adapter, directory: str | Path, *, label_names: list[str], backbone_name: str | None,
                 backbone: nn.Module | None = None, overwrite: bool = False, extra: dict | None = None,
                 backbone_fingerprint: str | None = None) -> Path:
    """Writes `adapter` (a TaskAdapter with the `backbone` it was trained on, or a PTuningModel,
    which holds both) as an adapter folder; refuses to replace one unless `overwrite`."""
    if isinstance(adapter, PTuningModel):
        adapter, backbone = adapter.adapter, adapter.backbone
    if backbone is None:
        raise TypeError("save_adapter(TaskAdapter, ...) needs backbone=: the folder records its fingerprint and shape")
    model = adapter
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
            "fingerprint": backbone_fingerprint or fingerprint(backbone),
            "model_type": backbone.config.model_type,
            "hidden_size": backbone.config.hidden_size,
        },
        "ptuning": model.config.to_dict(),
        "parameters": parameter_counts(adapter, backbone),
        "versions": versions(),
        **(extra or {}),
    }
    writers[directory / CONFIG_FILE] = lambda p: p.write_text(json.dumps(config, indent=2) + "\n")
    write_together(writers, what="adapter")  # all of it or none: a full disk never mixes two adapters
    return directory


def load_adapter(directory: str | Path, *, backbone=None, tokenizer=None, model_name: str | None = None,
                 allow_backbone_mismatch: bool = False, with_encoder: bool = False):
    """Returns (PTuningModel in inference mode, tokenizer, adapter config dict).

    `backbone`/`tokenizer` reuse an already loaded backbone; `model_name` loads another copy of
    the backbone (e.g. a local path when the artifact names a Hub model). `with_encoder` also
    loads the prompt encoder weights, for continued training.
    """
    directory = resolve_adapter(directory)
    config = read_adapter_config(directory)
    adapter_settings(directory, config)  # a damaged record is refused before a backbone is loaded
    if backbone is None:
        backbone, tokenizer = load_backbone(model_name or backbone_to_load(config["backbone"], directory))
    model = PTuningModel(backbone, adapter_settings(directory, config), num_labels=len(config["task"]["label_names"]))
    adapter, _ = load_task_adapter(directory, model.prompted, fingerprint(backbone), with_encoder=with_encoder,
                                   allow_backbone_mismatch=allow_backbone_mismatch)
    model.use_adapter(adapter).eval()
    return model, tokenizer, config


def load_task_adapter(directory: str | Path, prompted, backbone_fingerprint: str, *, name: str | None = None,
                      with_encoder: bool = False, allow_backbone_mismatch: bool = False) -> tuple[TaskAdapter, dict]:
    """(TaskAdapter, its folder's record) for `prompted` (an engine's PromptedBackbone), checked
    against the backbone's fingerprint; in inference mode (its prompt a fixed table) unless
    `with_encoder`, which also loads the prompt encoder for continued training."""
    directory = resolve_adapter(directory)
    config = read_adapter_config(directory)
    check_backbone(directory, config, backbone_fingerprint, allow_mismatch=allow_backbone_mismatch, name=name)
    settings = adapter_settings(directory, config)
    adapter = TaskAdapter(settings, backbone=prompted, num_labels=len(config["task"]["label_names"]))
    load_adapter_weights(adapter, directory, config, with_encoder=with_encoder)
    adapter.eval()
    return adapter, config


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
