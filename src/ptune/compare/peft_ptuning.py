"""HF PEFT's P-tuning, shaped for ptune's loop (same batches, same optimizer groups)."""
from __future__ import annotations

import torch


class PeftClassifier(torch.nn.Module):
    """A PEFT model with a sequence-classification head, returning logits like PTuningModel."""

    def __init__(self, peft_model):
        super().__init__()
        self.inner = peft_model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    def trainable_parameters(self):
        named = [(n, p) for n, p in self.inner.named_parameters() if p.requires_grad]
        return {"encoder": [p for n, p in named if "prompt_encoder" in n],
                "head": [p for n, p in named if "prompt_encoder" not in n]}

    def trainable_state_dict(self):
        return {n: p.detach().clone() for n, p in self.inner.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state):
        self.inner.load_state_dict(state, strict=False)


def build_peft_ptuning(model_path: str, *, num_labels: int, num_virtual_tokens: int = 20, seed: int = 0):
    """PEFT's P-tuning as the sst2-minilm protocol configures it (MLP reparameterisation)."""
    from peft import PromptEncoderConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)
    config = PromptEncoderConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=num_virtual_tokens,
                                 encoder_reparameterization_type="MLP", encoder_hidden_size=base.config.hidden_size)
    return PeftClassifier(get_peft_model(base, config))
