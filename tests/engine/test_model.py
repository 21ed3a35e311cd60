import copy

import pytest
import torch

from conftest import build_tiny_model
from ptune.config import PTuningConfig
from ptune.encoders import ENCODERS
from ptune.errors import ConfigError
from ptune.engine.model import PTuningModel
from ptune.tasks import ClassificationConfig

K = 4


def make_model(backbone, encoder="mlp", placement="after_cls", pooling="mean", **kwargs):
    config = PTuningConfig(num_virtual_tokens=K, injection="input", placement=placement, task=ClassificationConfig(pooling=pooling, head_dropout=0.0),
                           encoder=ENCODERS[encoder][0](), **kwargs)
    return PTuningModel(backbone, config, num_labels=3, seed=0)


def batch(tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids")


@pytest.mark.parametrize("placement", ["after_cls", "prefix"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_training_moves_only_prompt_and_head(tiny_bert, encoder, placement):
    backbone, tokenizer = tiny_bert
    model = make_model(backbone, encoder, placement)
    before = copy.deepcopy(backbone.state_dict())
    trainable = [p for group in model.trainable_parameters().values() for p in group]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    inputs = batch(tokenizer, ["the food was great", "awful service"])
    model.train()
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(*inputs), torch.tensor([0, 2]))
        loss.backward()
        assert all(p.grad is None for p in backbone.parameters())
        assert all(p.grad is not None for p in trainable)
        optimizer.step()
        optimizer.zero_grad()
    after = backbone.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.parametrize("placement", ["after_cls", "prefix"])
@pytest.mark.parametrize("pooling", ["cls", "mean", "text_mean"])
def test_padding_does_not_change_logits(tiny_bert, placement, pooling):
    backbone, tokenizer = tiny_bert
    model = make_model(backbone, placement=placement, pooling=pooling).eval()
    alone = model(*batch(tokenizer, ["great"]))
    padded = model(*batch(tokenizer, ["great", "the plot drags and the jokes land with a thud"]))
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-5)


def test_after_cls_keeps_text_positions_and_the_head_reads_the_real_cls(tiny_bert):
    backbone, tokenizer = tiny_bert
    model = make_model(backbone, placement="after_cls")
    ids, mask, types = batch(tokenizer, ["great food"])
    inputs, _, cls_index = model.prompted.build_inputs(ids, mask, types, model.engine.prompts([model.adapter], placement=model.config.placement))
    n = ids.shape[1]
    assert cls_index == 0
    assert inputs["position_ids"][0].tolist() == [0] * (K + 1) + list(range(1, n))
    torch.testing.assert_close(inputs["inputs_embeds"][0, 0], backbone.get_input_embeddings().weight[ids[0, 0]])
    assert inputs["attention_mask"].shape == (1, K + n)


def test_prefix_puts_virtual_tokens_first_with_sequential_positions(tiny_bert):
    backbone, tokenizer = tiny_bert
    model = make_model(backbone, placement="prefix")
    ids, mask, types = batch(tokenizer, ["great food"])
    inputs, _, cls_index = model.prompted.build_inputs(ids, mask, types, model.engine.prompts([model.adapter], placement=model.config.placement))
    assert cls_index == K
    assert inputs["position_ids"][0].tolist() == list(range(K + ids.shape[1]))


def test_text_is_truncated_to_fit_beside_the_virtual_tokens(tiny_bert):
    backbone, _ = tiny_bert
    limit = backbone.config.max_position_embeddings
    assert make_model(backbone, placement="after_cls", max_length=500).max_text_length() == limit
    assert make_model(backbone, placement="prefix", max_length=500).max_text_length() == limit - K
    assert make_model(backbone, placement="prefix", max_length=20).max_text_length() == 20


def test_longest_text_runs_in_both_placements(tiny_bert):
    backbone, tokenizer = tiny_bert
    for placement in ("after_cls", "prefix"):
        model = make_model(backbone, placement=placement, max_length=500).eval()
        enc = tokenizer(["great " * 200], truncation=True, max_length=model.max_text_length(), return_tensors="pt")
        assert model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).shape == (1, 3)


def test_prompt_table_gives_the_same_logits_as_the_encoder(tiny_bert):
    backbone, tokenizer = tiny_bert
    model = make_model(backbone, encoder="lstm").eval()
    inputs = batch(tokenizer, ["great food", "awful"])
    with torch.no_grad():
        from_encoder = model(*inputs)
        model.fold_prompt()
        from_table = model(*inputs)
    assert model.uses_prompt_table
    torch.testing.assert_close(from_encoder, from_table)


@pytest.mark.parametrize("kind", ["roberta", "distilbert"])
@pytest.mark.parametrize("placement", ["after_cls", "prefix"])
def test_other_encoder_families(kind, placement):
    backbone = build_tiny_model(kind, vocab_size=100)
    model = make_model(backbone, placement=placement).eval()
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 5, 2, 1, 1]]) if kind == "roberta" else torch.tensor([[2, 5, 6, 7, 3], [2, 5, 3, 0, 0]])
    mask = (torch.arange(5) < torch.tensor([[5], [3]])).long()
    logits = model(ids, mask)
    assert logits.shape == (2, 3)
    alone = model(ids[1:, :3], mask[1:, :3])
    torch.testing.assert_close(alone[0], logits[1], atol=1e-5, rtol=1e-5)
    if kind == "roberta":
        assert model.prompted.positions.offset == 2
        assert model.max_text_length() == min(128, 64 if placement == "after_cls" else 64 - K)


def test_parameter_counts_add_up(tiny_bert):
    backbone, _ = tiny_bert
    counts = make_model(backbone).parameter_counts()
    assert counts["trainable"] == counts["encoder"] + counts["head"]
    assert counts["total"] == counts["backbone"] + counts["trainable"]
    assert counts["inference"] == K * 32 + counts["head"]


def test_bad_model_config_reports_every_field():
    with pytest.raises(ConfigError) as err:
        PTuningConfig(num_virtual_tokens=0, placement="middle", injection="sideways")
    assert all(s in str(err.value) for s in ("num_virtual_tokens=0", "placement='middle'", "injection='sideways'"))
    with pytest.raises(ConfigError, match="pooling='max'"):
        ClassificationConfig(pooling="max")


@pytest.mark.parametrize("injection", ["input", "deep"])
def test_prefer_eager_attention_switches_sdpa_once_and_keeps_outputs(tiny_bert, injection):
    from ptune.engine.backbone import prefer_eager_attention
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel

    backbone, _ = tiny_bert
    backbone.set_attn_implementation("sdpa")
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=4, injection=injection, max_length=16),
                         num_labels=2).eval()
    ids = torch.randint(5, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    before = model(ids, mask)
    assert prefer_eager_attention(model) == 1
    # deep prompts wrap the kernel (the wrapper's inner kernel switches); input-level ones do not
    switched = backbone.config.ptune_inner_attention if injection == "deep" else backbone.config._attn_implementation
    assert switched == "eager" and prefer_eager_attention(model) == 0
    torch.testing.assert_close(model(ids, mask), before, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("placement", ["after_cls", "prefix"])
def test_text_mean_pooling_reads_the_text_states_only(tiny_bert, placement):
    backbone, _ = tiny_bert
    model = make_model(backbone, placement=placement, pooling="text_mean").eval()
    ids = torch.randint(5, 50, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    captured = {}
    model.head.register_forward_pre_hook(lambda module, args: captured.setdefault("pooled", args[0]))
    with torch.no_grad():
        model(ids, mask)
        states = model.prompted(ids, mask, prompts=model.engine.prompts([model.adapter] * 2, placement=model.config.placement)).states
    at = 1 if placement == "after_cls" else 0
    text = torch.cat([states[:, :at], states[:, at + K:]], dim=1)
    expected = (text * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(captured["pooled"], expected)


def test_frozen_linear_weights_in_bf16_are_bit_identical_under_autocast_and_restored(tiny_bert):
    from ptune.engine.precision import frozen_linear_parameters, stored_in

    backbone, _ = tiny_bert
    model = make_model(backbone, placement="after_cls", pooling="mean").train()
    ids = torch.randint(5, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    trainable = [p for p in model.parameters() if p.requires_grad]

    def logits_and_grads():
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(ids, mask)
        logits.float().sum().backward()
        return logits.detach(), [p.grad.clone() for p in trainable]

    before = {id(p): (p, p.data.clone()) for p in frozen_linear_parameters(model)}
    assert before and not any(p.requires_grad for p, _ in before.values())
    reference, reference_grads = logits_and_grads()
    with stored_in(frozen_linear_parameters(model), torch.bfloat16) as cast:
        assert cast.count == len(before) and cast.active
        assert all(p.dtype == torch.bfloat16 for p, _ in before.values())
        assert all(p.dtype == torch.float32 for p in trainable)  # what trains keeps fp32 master weights
        logits, grads = logits_and_grads()
    assert torch.equal(logits, reference)
    assert all(torch.equal(g, r) for g, r in zip(grads, reference_grads))
    for parameter, original in before.values():  # the backbone comes back bit for bit
        assert parameter.dtype == torch.float32 and torch.equal(parameter.data, original)


def test_prompt_encoder_and_head_compute_in_fp32_under_bf16_autocast(tiny_bert):
    backbone, _ = tiny_bert
    model = make_model(backbone).train()
    ids = torch.randint(5, 50, (2, 6))
    reference = model.prompt()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        prompt = model.prompt()
        logits = model(ids, torch.ones_like(ids))
    assert prompt.dtype == torch.float32 and torch.equal(prompt, reference)  # not rounded to bf16
    assert logits.dtype == torch.float32


def test_a_task_adapter_saves_and_loads_as_itself_and_runs_as_the_model_did(tiny_bert, tmp_path):
    """save_adapter takes a TaskAdapter (with its backbone), load_task_adapter gives one back; the
    bank of one it makes computes what the single-task model it was trained in computed."""
    from ptune.engine.adapter import TaskAdapter
    from ptune.engine.backbone import fingerprint
    from ptune.engine.core import Engine
    from ptune.engine.model import load_adapter, load_task_adapter, save_adapter

    backbone, tokenizer = tiny_bert
    model = make_model(backbone).eval()
    save_adapter(model.adapter, tmp_path / "a", label_names=["x", "y", "z"], backbone_name=None, backbone=backbone)
    with pytest.raises(TypeError, match="needs backbone="):
        save_adapter(model.adapter, tmp_path / "b", label_names=["x", "y", "z"], backbone_name=None)
    engine = Engine(backbone)
    adapter, record = load_task_adapter(tmp_path / "a", engine.prompted, fingerprint(backbone))
    assert isinstance(adapter, TaskAdapter) and adapter.uses_prompt_table and adapter.encoder is None
    assert record["task"]["label_names"] == ["x", "y", "z"]
    ids, mask, types = batch(tokenizer, ["a short one", "and a somewhat longer sentence here"])
    with torch.no_grad():
        expected = model(ids, mask, types)
        ((_, _, from_engine),) = engine.run_groups(ids, mask, types, adapters=adapter)
        from_model = load_adapter(tmp_path / "a", backbone=backbone, tokenizer=tokenizer)[0](ids, mask, types)
    torch.testing.assert_close(from_engine, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(from_model, from_engine)
