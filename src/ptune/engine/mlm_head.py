"""A backbone's pretrained masked-language-model head, loaded frozen beside the encoder.

The cloze head (ptune.tasks.cloze) scores label words at a [MASK] with it. ptune loads the encoder
without a head (AutoModel), so the MLM head comes from a second read of the same checkpoint with
AutoModelForMaskedLM; only the head's modules are kept. A checkpoint that holds no trained MLM
head (a sentence embedder such as the bundled all-MiniLM-L6-v2) is refused: transformers would
fill the head with random weights, and scoring words with them would be noise.
"""
from __future__ import annotations

import torch
from torch import nn

from ptune.errors import PtuneError


class MaskedLMHead(nn.Module):
    """(..., hidden) final states -> (..., vocabulary) logits, frozen, in fp32."""

    def __init__(self, modules: list[nn.Module], *, word_embeddings: nn.Embedding | None = None):
        super().__init__()
        self.steps = nn.ModuleList(modules)
        # DeBERTa-v2/v3 (legacy: false) take the input embeddings as an argument of their head.
        self.word_embeddings = word_embeddings
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        states = states.float()
        if self.word_embeddings is not None:
            return self.steps[0](states, self.word_embeddings).float()
        for step in self.steps:
            states = step(states)
        return states.float()


def load_mlm_head(model: nn.Module, family) -> MaskedLMHead:
    """The MLM head of the checkpoint `model` was loaded from; `family`: its ptune.engine.families entry."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    source = getattr(model.config, "_name_or_path", "") or getattr(model, "name_or_path", "")
    if not source:
        raise PtuneError("the cloze head's `mlm` scorer reads the backbone's pretrained MLM head from the checkpoint the "
                         "backbone was loaded from, and this backbone records none (built from a config, not "
                         "from_pretrained); save it with save_pretrained and load it from that folder")
    verbosity, bars_were_on = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the "newly initialized" warning is turned into the error below
    hf_logging.disable_progress_bar()
    try:
        masked_lm, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True)
    except (OSError, ValueError) as err:
        raise PtuneError(f"could not load the MLM head of {source!r} ({err}); the cloze head's `mlm` scorer needs a "
                         "checkpoint with a masked-language-model head") from err
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()
    prefix = masked_lm.base_model_prefix
    untrained = sorted(k for k in info["missing_keys"] if not k.startswith(prefix + "."))
    if untrained:
        raise PtuneError(
            f"backbone {source!r} has no pretrained MLM head (its checkpoint lacks {', '.join(untrained[:3])}"
            f"{', ...' if len(untrained) > 3 else ''}), so the cloze head cannot score label words with one. "
            "Use the linear head (--head linear) on this backbone, or a backbone saved with its MLM head "
            "(e.g. bert-base-uncased). A variant scoring the label words' input embeddings through a trained map "
            "needs no MLM head, but on the bundled MiniLM it scored below the linear head and was left out")
    if getattr(masked_lm, "lm_predictions", None) is not None:  # DeBERTa-v2/v3, legacy: false
        head = MaskedLMHead([masked_lm.lm_predictions.lm_head],
                            word_embeddings=masked_lm.get_input_embeddings())
    else:
        head = MaskedLMHead([getattr(masked_lm, name) for name in family.mlm_head])
    device = next(model.parameters()).device
    return head.to(device).eval()
