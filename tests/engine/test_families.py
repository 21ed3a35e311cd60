"""The family table: every entry runs input-level and deep prompts on a tiny random config; a
model type outside it is refused by name before anything trains; the table refuses a duplicate."""
import pytest
import torch

from ptune.config import PTuningConfig
from ptune.errors import ConfigError, PtuneError
from ptune.engine.families import FAMILIES, Family, family_of, register_family
from ptune.engine.model import PTuningModel

SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=120,
             max_position_embeddings=70)


def tiny(model_type: str):
    from transformers import AutoConfig, AutoModel

    sizes = dict(SIZES)
    if model_type == "distilbert":
        sizes = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37, vocab_size=120, max_position_embeddings=70)
    if model_type == "electra":
        sizes["embedding_size"] = 16
    torch.manual_seed(0)
    return AutoModel.from_config(AutoConfig.for_model(model_type, **sizes)).eval()


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
@pytest.mark.parametrize("injection", ["input", "deep"])
def test_every_family_runs_both_injections_and_pads_invariantly(model_type, injection):
    model = PTuningModel(tiny(model_type), PTuningConfig(injection=injection, num_virtual_tokens=3, max_length=32),
                         num_labels=2).eval()
    ids = torch.randint(5, 100, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        both = model(ids, mask)
        alone = model(ids[1:, :6], mask[1:, :6])
    torch.testing.assert_close(both[1], alone[0], atol=1e-5, rtol=1e-4)
    assert len(model.prompted.attention_layers) == FAMILIES[model_type].num_layers(model.backbone.config)


def test_a_family_outside_the_table_is_refused_by_name():
    from transformers import AlbertConfig, AlbertModel

    backbone = AlbertModel(AlbertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=37, vocab_size=50, embedding_size=16))
    with pytest.raises(PtuneError, match="'albert' is not supported; supported: bert, camembert"):
        PTuningModel(backbone, PTuningConfig(injection="input", num_virtual_tokens=2, max_length=16), num_labels=2)
    with pytest.raises(PtuneError, match="register a ptune.engine.families.Family"):
        family_of(backbone.config)


def test_the_table_refuses_a_second_entry_under_a_taken_name():
    with pytest.raises(ConfigError, match="already registered"):
        register_family(Family("bert", "SomethingElse", "transformers.models.bert.modeling_bert"))
    assert FAMILIES["bert"].attention_class == "BertSelfAttention"


def test_registries_refuse_duplicates():
    from ptune.encoders import register_encoder
    from ptune.encoders.mlp import MLPEncoderConfig
    from ptune.injections import Injection, register_injection
    from ptune.tasks.base import Task, register_task

    with pytest.raises(ConfigError, match="prompt encoder named 'mlp' is already registered"):
        register_encoder("mlp", MLPEncoderConfig)(type("OtherEncoder", (torch.nn.Module,), {}))

    class OtherInjection(Injection):
        name = "deep"

    with pytest.raises(ConfigError, match="injection named 'deep' is already registered"):
        register_injection(OtherInjection)

    class OtherTask(Task):
        name = "classification"

    with pytest.raises(ConfigError, match="task named 'classification' is already registered"):
        register_task(OtherTask)
