"""The backbone families ptune supports: one table, one entry per transformers `model_type`.

Each entry says where the family's self-attention layers are (their class name), how a layer is
told its deep-prompt keys/values, in which order a forward pass calls the layers, how its position
ids count, and where its prompt keys sit relative to the text. PEFT keeps such per-model-type
tables (`TRANSFORMERS_MODELS_TO_*_MAPPING`) instead of guessing; so does ptune.

Two ways to reach a layer's attention:
- `interface`: the family routes attention through transformers' `ALL_ATTENTION_FUNCTIONS`
  (BERT, RoBERTa, ELECTRA, ALBERT, ModernBERT, ...); ptune registers one more attention function
  that prepends the prompt keys/values (`ptune.injections.deep_attention`).
- a per-family hook (`ptune.engine.family_attention`, beside this table): the family's attention is its own code
  (DeBERTa's disentangled attention with relative-position terms, MPNet's relative bias), so
  ptune wraps that module's forward and adds the prompt columns to its scores.

A model type outside the table is refused before anything trains. To add one: one entry here
and its tiny config in tests/family_configs.py (the family matrix then covers it).
"""
from __future__ import annotations

from dataclasses import dataclass

from ptune.errors import PtuneError
from ptune.registry import add_unique

INTERFACE = "interface"


@dataclass(frozen=True)
class Family:
    model_type: str
    attention_class: str
    """Class name of the self-attention module that takes prompt keys/values."""
    modeling_module: str
    """transformers module of the family (holds `eager_attention_forward` for `interface` families)."""
    position_offset_from_padding: bool = False
    """Text positions start at pad_token_id + 1 (RoBERTa, XLM-R, CamemBERT, MPNet) instead of 0."""
    layers_attribute: str = "num_hidden_layers"
    hook: str = INTERFACE
    """`interface`, or the name of a per-family hook in ptune.engine.family_attention."""
    shared_layers: bool = False
    """One attention module serves several depths (ALBERT): prompts are given per call, not per module."""
    positions: str = "absolute"
    """How the family reads positions: `absolute` (position ids at the embeddings), `rotary` (position
    ids rotate queries and keys; ModernBERT's local windows also count them), `relative` (relative
    terms in every layer). ptune gives every family the position ids of its layout (input-level
    prompts after [CLS] share its position), so a row's text sits at the same positions whatever
    else the batch holds."""
    prompt_positions: str = "content only: positions enter at the embeddings, prompt keys carry none"
    """Where prompt keys sit relative to the text, for the README's family table."""
    mlm_head: tuple[str, ...] = ("cls",)
    """Modules of the family's `*ForMaskedLM` after the encoder, applied in turn to its final states
    (the cloze head scores label words with them; ptune.engine.mlm_head)."""

    def eager_kernel(self):
        import importlib

        return importlib.import_module(self.modeling_module).eager_attention_forward

    def position_offset(self, config) -> int:
        return config.pad_token_id + 1 if self.position_offset_from_padding else 0

    def num_layers(self, config) -> int:
        """Attention calls per forward pass: each gets its own prompt keys/values."""
        layers = getattr(config, self.layers_attribute)
        return layers * config.inner_group_num if self.shared_layers else layers

    def attention_calls(self, model) -> list:
        """The attention module serving each depth, in the order one forward pass calls them; a
        module shared by several depths appears once per depth."""
        if self.shared_layers:
            return albert_attention_calls(model)
        return [m for m in model.modules() if is_attention(m, self)]


def is_attention(module, family: Family) -> bool:
    return any(cls.__name__ == family.attention_class for cls in type(module).__mro__)


def albert_attention_calls(model) -> list:
    """ALBERT's depth i runs layer group int(i / (layers / groups)), each of its inner layers in turn
    (AlbertTransformer.forward)."""
    transformer = next(m for m in model.modules() if type(m).__name__ == "AlbertTransformer")
    config = transformer.config
    per_group = config.num_hidden_layers / config.num_hidden_groups
    return [layer.attention for depth in range(config.num_hidden_layers)
            for layer in transformer.albert_layer_groups[int(depth / per_group)].albert_layers]


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    add_unique(FAMILIES, family.model_type, family, kind="backbone family", identity=repr)
    return family


_ROTARY = ("rotary: prompt keys are not rotated, so each scores as a key at position 0 (where [CLS] sits); "
           "visible to every query, local-window layers included")
_DISTANCE_ZERO = ("relative: prompt keys sit at relative distance 0 from every query (content term plus the "
                  "distance-0 position terms)")
for _family in (
    Family("bert", "BertSelfAttention", "transformers.models.bert.modeling_bert"),
    Family("roberta", "RobertaSelfAttention", "transformers.models.roberta.modeling_roberta", True,
           mlm_head=("lm_head",)),
    Family("xlm-roberta", "XLMRobertaSelfAttention", "transformers.models.xlm_roberta.modeling_xlm_roberta", True,
           mlm_head=("lm_head",)),
    Family("camembert", "CamembertSelfAttention", "transformers.models.camembert.modeling_camembert", True,
           mlm_head=("lm_head",)),
    Family("electra", "ElectraSelfAttention", "transformers.models.electra.modeling_electra",
           mlm_head=("generator_predictions", "generator_lm_head")),
    Family("distilbert", "DistilBertSelfAttention", "transformers.models.distilbert.modeling_distilbert",
           layers_attribute="n_layers",
           mlm_head=("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector")),
    Family("albert", "AlbertAttention", "transformers.models.albert.modeling_albert", shared_layers=True,
           mlm_head=("predictions",)),
    Family("modernbert", "ModernBertAttention", "transformers.models.modernbert.modeling_modernbert",
           positions="rotary", prompt_positions=_ROTARY, mlm_head=("head", "decoder")),
    # DeBERTa-v2/v3 checkpoints saved with `legacy: false` keep theirs in `lm_predictions` (mlm_head.py).
    Family("deberta-v2", "DisentangledSelfAttention", "transformers.models.deberta_v2.modeling_deberta_v2",
           hook="deberta", positions="relative", prompt_positions=_DISTANCE_ZERO),
    Family("mpnet", "MPNetSelfAttention", "transformers.models.mpnet.modeling_mpnet", True, hook="mpnet",
           positions="relative", prompt_positions="relative: prompt keys take the relative bias of distance 0",
           mlm_head=("lm_head",)),
):
    register_family(_family)


def family_of(config) -> Family:
    """The table's entry for a transformers config, or one error naming what is supported."""
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        raise PtuneError(f"backbone family {model_type!r} is not supported; supported: {', '.join(sorted(FAMILIES))}. "
                         "To add one, register a ptune.engine.families.Family (its attention class, how its layers "
                         "take prompt keys, its position scheme) and give it a tiny config in "
                         "tests/family_configs.py")
    return FAMILIES[model_type]
