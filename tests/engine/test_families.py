"""The family table: every entry finds one attention call per depth; a model type outside it is
refused by name before anything trains; the table refuses a duplicate. (Every family x task x
injection runs in test_family_matrix.py.)"""
import pytest
import torch

from ptune.config import PTuningConfig
from ptune.errors import ConfigError, PtuneError
from ptune.engine.families import FAMILIES, Family, family_of, register_family
from ptune.engine.model import PTuningModel
from family_configs import family_model



def test_every_family_gives_each_depth_its_own_attention_call():
    for model_type, family in FAMILIES.items():
        backbone = family_model(model_type)
        calls = family.attention_calls(backbone)
        assert len(calls) == family.num_layers(backbone.config), model_type
        model = PTuningModel(backbone, PTuningConfig(injection="deep", num_virtual_tokens=2, max_length=16),
                             num_labels=2)
        assert model.prompted.attention_layers == calls


def test_a_family_outside_the_table_is_refused_by_name_before_anything_trains():
    from transformers import AutoConfig, AutoModel

    backbone = AutoModel.from_config(AutoConfig.for_model("convbert", hidden_size=32, num_hidden_layers=2,
                                                          num_attention_heads=4, intermediate_size=37, vocab_size=50,
                                                          embedding_size=32))
    with pytest.raises(PtuneError, match="'convbert' is not supported; supported: albert, bert, camembert, deberta-v2"):
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
