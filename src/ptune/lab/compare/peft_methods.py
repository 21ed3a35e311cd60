"""HF PEFT's methods (P-tuning, prompt tuning, prefix tuning, LoRA), shaped for ptune's loop.

Every model here maps (input_ids, attention_mask, token_type_ids) to logits and splits its
trainable parameters into "encoder" (the method's own parameters) and "head" (the classifier
PEFT trains beside them), so the same loop, optimizer groups and batches serve every method.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import torch
from safetensors.torch import load_file

from ptune.errors import PtuneError

HEAD_MODULES = ("classifier", "score", "qa_outputs")


class PeftClassifier(torch.nn.Module):
    """A PEFT sequence-classification model returning logits like PTuningModel."""

    def __init__(self, peft_model):
        super().__init__()
        self.inner = peft_model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        from ptune.lab.compare.baselines import task_logits

        return task_logits(self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids))

    def _trainable(self):
        return [(n, p) for n, p in self.inner.named_parameters() if p.requires_grad]

    def trainable_parameters(self):
        is_head = lambda name: any(f".{m}." in f".{name}" for m in HEAD_MODULES)  # noqa: E731
        return {"encoder": [p for n, p in self._trainable() if not is_head(n)],
                "head": [p for n, p in self._trainable() if is_head(n)]}

    def trainable_state_dict(self):
        return {n: p.detach().clone() for n, p in self._trainable()}

    def load_trainable_state_dict(self, state):
        self.inner.load_state_dict(state, strict=False)

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for _, p in self._trainable())
        return {"trainable": trainable, "total": sum(p.numel() for p in self.inner.parameters())}

    def save_inference_files(self, folder: Path) -> tuple[int, int]:
        """PEFT's own save_pretrained; returns (bytes on disk, parameters saved)."""
        self.inner.save_pretrained(folder)
        files = list(folder.rglob("*.safetensors"))
        return (sum(p.stat().st_size for p in files),
                sum(t.numel() for f in files for t in load_file(f).values()))


def _base_model(model_path: str, num_labels: int, seed: int, task: str = "classification"):
    from ptune.lab.compare.baselines import auto_model_class

    torch.manual_seed(seed)
    return auto_model_class(task).from_pretrained(model_path, num_labels=num_labels)


def _task_type(task: str):
    from peft import TaskType

    return {"token_classification": TaskType.TOKEN_CLS, "question_answering": TaskType.QUESTION_ANS}.get(task, TaskType.SEQ_CLS)


def _wrap(peft_model, task: str) -> "PeftClassifier":
    from ptune.tasks import get_task

    model = PeftClassifier(peft_model)
    model.task = get_task(task)
    return model


class PeftPromptTagger(PeftClassifier):
    """PEFT's prompt-learning token classifier. PEFT prepends the virtual tokens and returns a label
    for each of them too (sequence length k + n); the text's labels are the last n."""

    def __init__(self, peft_model, num_virtual_tokens: int):
        super().__init__(peft_model)
        self.num_virtual_tokens = num_virtual_tokens

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return super().forward(input_ids, attention_mask, token_type_ids)[:, self.num_virtual_tokens:]


def build_peft_ptuning(model_path: str, *, num_labels: int, num_virtual_tokens: int = 20, seed: int = 0,
                       encoder_hidden_size: int | None = None, task: str = "classification"):
    """PEFT's P-tuning as the sst2-minilm protocol configures it (MLP reparameterisation), for
    sequence or token classification."""
    from peft import PromptEncoderConfig, get_peft_model

    from ptune.tasks import get_task

    if get_task(task).name not in ("classification", "token_classification"):
        raise PtuneError(f"peft-ptuning is wired for sequence and token classification, not {task}; "
                         "for question answering use ptune, peft-lora, full-ft or linear-probe")
    base = _base_model(model_path, num_labels, seed, task)
    config = PromptEncoderConfig(task_type=_task_type(task), num_virtual_tokens=num_virtual_tokens,
                                 encoder_reparameterization_type="MLP",
                                 encoder_hidden_size=encoder_hidden_size or base.config.hidden_size)
    peft_model = get_peft_model(base, config)
    if get_task(task).name == "token_classification":
        model = PeftPromptTagger(peft_model, num_virtual_tokens)
        model.task = get_task(task)
        return model
    return PeftClassifier(peft_model)


def build_peft_prompt_tuning(model_path: str, *, num_labels: int, num_virtual_tokens: int = 20, seed: int = 0):
    """PEFT's prompt tuning (Lester et al.): k free embeddings prepended, no encoder."""
    from peft import PromptTuningConfig, TaskType, get_peft_model

    base = _base_model(model_path, num_labels, seed)
    config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=num_virtual_tokens)
    return PeftClassifier(get_peft_model(base, config))


def build_peft_prefix_tuning(model_path: str, *, num_labels: int, num_virtual_tokens: int = 20, seed: int = 0):
    """PEFT's prefix tuning (per-layer key/value prefixes), through the compatibility layer below."""
    from peft import PrefixTuningConfig, TaskType, get_peft_model

    base = _base_model(model_path, num_labels, seed)
    accept_past_key_values(base)
    config = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=num_virtual_tokens)
    return PeftClassifier(get_peft_model(base, config))


LORA_TARGETS = {
    # The query/value projections of each family ptune supports, where PEFT's own table
    # (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) has no entry; ModernBERT fuses q, k, v in one.
    "distilbert": ["q_lin", "v_lin"], "camembert": ["query", "value"], "albert": ["query", "value"],
    "mpnet": ["q", "v"], "modernbert": ["Wqkv"],
}


def lora_targets(model_type: str) -> list[str]:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    targets = PEFT_TARGETS.get(model_type) or LORA_TARGETS.get(model_type)
    if not targets:
        raise PtuneError(f"peft-lora: no default target modules for {model_type!r}; name them, e.g. "
                         "peft-lora[target_modules=query,value]")
    return list(targets)


def build_peft_lora(model_path: str, *, num_labels: int, seed: int = 0, r: int = 8, lora_alpha: int = 16,
                    lora_dropout: float = 0.1, target_modules: str = "auto", task: str = "classification"):
    """PEFT's LoRA on the attention query/value projections (its usual BERT setting; `auto`: the
    family's own names for them), for sequence or token classification."""
    from peft import LoraConfig, get_peft_model

    base = _base_model(model_path, num_labels, seed, task)
    targets = lora_targets(base.config.model_type) if target_modules == "auto" else target_modules.split(",")
    config = LoraConfig(task_type=_task_type(task), r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                        target_modules=targets)
    return _wrap(get_peft_model(base, config), task)


def accept_past_key_values(model) -> bool:
    """Compatibility layer for PEFT prefix tuning on transformers 5.x encoders.

    PEFT (0.21) passes the prefix as `past_key_values=` and checks for that name in the signature
    of the backbone's `forward`; transformers 5.x renamed the argument to `cache`, so PEFT refuses
    BERT with "Model does not support past key values". This wraps the backbone's forward (this
    instance only) in one that accepts `past_key_values` and hands it on as `cache`. Returns True
    when the wrapper was installed, False when the backbone already accepts the old name.
    """
    backbone = getattr(model, model.base_model_prefix, model)
    signature = inspect.signature(backbone.forward)
    if "past_key_values" in signature.parameters:
        return False
    if "cache" not in signature.parameters:
        raise TypeError(f"{type(backbone).__name__}.forward takes neither `past_key_values` nor `cache`; "
                        "prefix tuning cannot pass its key/value prefix to this backbone")
    original = backbone.forward

    def forward(*args, past_key_values=None, **kwargs):
        return original(*args, cache=past_key_values, **kwargs)

    parameters = [p for name, p in signature.parameters.items() if name != "kwargs"]
    parameters.append(inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY, default=None))
    parameters += [p for name, p in signature.parameters.items() if name == "kwargs"]
    forward.__signature__ = signature.replace(parameters=parameters)
    backbone.forward = forward
    return True
