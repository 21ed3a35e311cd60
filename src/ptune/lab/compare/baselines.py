"""Baselines implemented in ptune: BitFit, full fine-tuning, and the linear probe.

BitFit and full fine-tuning use transformers' own sequence-classification model (pooler +
classifier, backbone dropout on), as a user of those methods would. The linear probe is ptune's
model without virtual tokens: the same frozen backbone, the same pooling and the same head, so
the difference between it and ptune is exactly what the prompt adds.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ptune.engine.backbone import PositionScheme, accepts_token_type_ids
from ptune.engine.families import family_of

HEAD_MODULES = ("classifier.", "qa_outputs.")


def auto_model_class(task: str):
    """transformers' own head class for a ptune task."""
    import transformers

    from ptune.tasks import get_task

    return {"classification": transformers.AutoModelForSequenceClassification,
            "token_classification": transformers.AutoModelForTokenClassification,
            "question_answering": transformers.AutoModelForQuestionAnswering}[get_task(task).name]


def task_logits(output) -> torch.Tensor:
    """A transformers head's output as ptune's task logits: (batch, labels), (batch, seq, labels),
    or (batch, seq, 2) start/end logits for question answering."""
    if getattr(output, "start_logits", None) is not None:
        return torch.stack((output.start_logits, output.end_logits), dim=-1)
    return output.logits


class HFClassifier(nn.Module):
    """AutoModelForSequenceClassification with a choice of which weights train."""

    def __init__(self, model, *, train: str):
        super().__init__()
        if train not in ("bias", "all"):
            raise ValueError(f"train={train!r}: expected 'bias' (BitFit) or 'all' (full fine-tuning)")
        self.inner = model
        self.train_mode = train
        for name, parameter in model.named_parameters():
            parameter.requires_grad = train == "all" or name.endswith(".bias") or name.startswith(HEAD_MODULES)
        self._pass_token_types = accepts_token_type_ids(model)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {"token_type_ids": token_type_ids} if self._pass_token_types and token_type_ids is not None else {}
        return task_logits(self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra))

    def _trainable(self):
        return [(n, p) for n, p in self.inner.named_parameters() if p.requires_grad]

    def trainable_parameters(self):
        return {"encoder": [p for n, p in self._trainable() if not n.startswith(HEAD_MODULES)],
                "head": [p for n, p in self._trainable() if n.startswith(HEAD_MODULES)]}

    def trainable_state_dict(self):
        return {n: p.detach().clone() for n, p in self._trainable()}

    def load_trainable_state_dict(self, state):
        self.inner.load_state_dict(state, strict=False)

    def parameter_counts(self) -> dict[str, int]:
        return {"trainable": sum(p.numel() for _, p in self._trainable()),
                "total": sum(p.numel() for p in self.inner.parameters())}

    def save_inference_files(self, folder: Path) -> tuple[int, int]:
        """BitFit ships its biases + head (the rest is the public backbone); full FT the whole model."""
        folder.mkdir(parents=True, exist_ok=True)
        state = self.trainable_state_dict() if self.train_mode == "bias" else {
            n: p.detach().contiguous() for n, p in self.inner.state_dict().items()}
        save_file({n: t.contiguous() for n, t in state.items()}, str(folder / "model.safetensors"))
        return (folder / "model.safetensors").stat().st_size, sum(t.numel() for t in state.values())


def build_hf_classifier(model_path: str, *, num_labels: int, seed: int, train: str,
                        task: str = "classification") -> HFClassifier:
    """transformers' own model for the task: sequence or token classification, or question answering."""
    from ptune.tasks import get_task

    torch.manual_seed(seed)
    model = HFClassifier(auto_model_class(task).from_pretrained(model_path, num_labels=num_labels), train=train)
    model.task = get_task(task)
    return model


class LinearProbe(nn.Module):
    """Frozen backbone, no prompt, the task's own head (pooled for classification, per token for
    tagging): the "base model" row. It differs from ptune in the prompt alone."""

    def __init__(self, backbone: nn.Module, *, num_labels: int, pooling: str = "mean", head_dropout: float = 0.1,
                 seed: int = 0, task: str = "classification"):
        super().__init__()
        from ptune.engine.core import Engine
        from ptune.tasks import get_task

        self.engine = Engine(backbone)  # its forward with nothing injected: the frozen features
        self.backbone = backbone
        self.task = get_task(task)
        options = {"head_dropout": head_dropout, **({"pooling": pooling} if self.task.name == "classification" else {})}
        self.task_config = self.task.config_cls(**options)
        self.head = self.task.build_head(backbone.config.hidden_size, num_labels, self.task_config)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.head.out.weight.normal_(0.0, 0.02, generator=generator)
            self.head.out.bias.zero_()
        self.position_limit = PositionScheme.of(backbone, family_of(backbone.config)).limit

    def train(self, mode: bool = True) -> "LinearProbe":
        super().train(mode)
        self.backbone.eval()  # frozen features, as in ptune's default
        return self

    def max_text_length(self) -> int:
        return self.position_limit

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.task.logits(self.head, self.engine.states(input_ids, attention_mask, token_type_ids), self.task_config)

    def trainable_parameters(self):
        return {"encoder": [], "head": list(self.head.parameters())}

    def trainable_state_dict(self):
        return {f"head.{n}": p.detach().clone() for n, p in self.head.state_dict().items()}

    def load_trainable_state_dict(self, state):
        self.head.load_state_dict({n[5:]: t for n, t in state.items() if n.startswith("head.")})

    def parameter_counts(self) -> dict[str, int]:
        head = sum(p.numel() for p in self.head.parameters())
        return {"trainable": head, "total": head + sum(p.numel() for p in self.backbone.parameters())}

    def save_inference_files(self, folder: Path) -> tuple[int, int]:
        folder.mkdir(parents=True, exist_ok=True)
        state = {n: t.contiguous() for n, t in self.trainable_state_dict().items()}
        save_file(state, str(folder / "head.safetensors"))
        return (folder / "head.safetensors").stat().st_size, sum(t.numel() for t in state.values())
