"""The backbone families ptune supports: one table, one entry per transformers `model_type`.

Each entry says where the family's self-attention layers are (their class name), which module
holds its eager attention kernel (the one deep prompts wrap when the model runs eagerly), and how
its position ids count (RoBERTa's family starts after its padding index). PEFT keeps such
per-model-type tables (`TRANSFORMERS_MODELS_TO_*_MAPPING`) instead of guessing; so does ptune.

A model type outside the table is refused before anything trains. To add one: one entry here
and one test (tests/test_families.py builds a tiny random config of every entry).
"""
from __future__ import annotations

from dataclasses import dataclass

from ptune.errors import PtuneError
from ptune.registry import add_unique


@dataclass(frozen=True)
class Family:
    model_type: str
    attention_class: str
    """Class name of the self-attention module of every layer, in layer order."""
    modeling_module: str
    """transformers module holding the family's `eager_attention_forward`."""
    position_offset_from_padding: bool = False
    """Text positions start at pad_token_id + 1 (RoBERTa, XLM-R, CamemBERT) instead of 0."""
    layers_attribute: str = "num_hidden_layers"

    def eager_kernel(self):
        import importlib

        return importlib.import_module(self.modeling_module).eager_attention_forward

    def position_offset(self, config) -> int:
        return config.pad_token_id + 1 if self.position_offset_from_padding else 0

    def num_layers(self, config) -> int:
        return getattr(config, self.layers_attribute)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    add_unique(FAMILIES, family.model_type, family, kind="backbone family", identity=repr)
    return family


for _family in (
    Family("bert", "BertSelfAttention", "transformers.models.bert.modeling_bert"),
    Family("roberta", "RobertaSelfAttention", "transformers.models.roberta.modeling_roberta", True),
    Family("xlm-roberta", "XLMRobertaSelfAttention", "transformers.models.xlm_roberta.modeling_xlm_roberta", True),
    Family("camembert", "CamembertSelfAttention", "transformers.models.camembert.modeling_camembert", True),
    Family("electra", "ElectraSelfAttention", "transformers.models.electra.modeling_electra"),
    Family("distilbert", "DistilBertSelfAttention", "transformers.models.distilbert.modeling_distilbert",
           layers_attribute="n_layers"),
):
    register_family(_family)


def family_of(config) -> Family:
    """The table's entry for a transformers config, or one error naming what is supported."""
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        raise PtuneError(f"backbone family {model_type!r} is not supported; supported: {', '.join(sorted(FAMILIES))}. "
                         "To add one, register a ptune.engine.families.Family (its attention class, its modeling module, "
                         "its position scheme) and add it to tests/test_families.py")
    return FAMILIES[model_type]
