"""Deep (per-layer key/value) prompts: the attention function, masks, kernels, families, save/load."""
import pytest
import torch

from conftest import build_tiny_model
from ptune.config import PTuningConfig
from ptune.encoders import EmbeddingEncoderConfig, MLPEncoderConfig
from ptune.injections.deep_attention import LayerPrompts, prompted_attention
from ptune.engine.model import PTuningModel
from ptune.injections import PromptPart, Prompts

K = 3


class FakeAttention(torch.nn.Module):
    def __init__(self, kernel):
        super().__init__()
        from transformers.models.bert.modeling_bert import eager_attention_forward

        self.config = type("Config", (), {"ptune_inner_attention": kernel})()
        self.is_causal = False
        self.ptune_eager_kernel = eager_attention_forward  # what install() sets from the family table


def reference_attention(query, key, value, visible):
    scores = query @ key.transpose(-1, -2) * query.shape[-1] ** -0.5  # (batch, heads, q, kv)
    scores = scores.masked_fill(~visible[:, None, None, :], float("-inf"))
    return (scores.softmax(-1) @ value).transpose(1, 2)  # (batch, q, heads, head_dim)


@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
def test_prompted_attention_equals_attention_over_prompt_and_text(kernel):
    torch.manual_seed(0)
    batch, heads, seq, dim = 2, 4, 5, 8
    query, key, value = (torch.randn(batch, heads, seq, dim) for _ in range(3))
    prompt_keys, prompt_values = torch.randn(batch, heads, K, dim), torch.randn(batch, heads, K, dim)
    text_visible = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    prompt_visible = torch.tensor([[1, 1, 1], [1, 0, 0]]).bool()  # row 1 has a shorter, padded prompt
    # the text's mask in each kernel's own format: bool (True = attend) for SDPA, additive for eager
    mask = text_visible[:, None, None, :].expand(batch, 1, seq, seq)
    if kernel == "eager":
        mask = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)
    module = FakeAttention(kernel)
    module.ptune_prompt = LayerPrompts()
    module.ptune_prompt.calls.append((prompt_keys, prompt_values, prompt_visible, {}))
    out, _ = prompted_attention(module, query, key, value, mask, scaling=dim ** -0.5, dropout=0.0)
    expected = reference_attention(query, torch.cat([prompt_keys, key], 2), torch.cat([prompt_values, value], 2),
                                   torch.cat([prompt_visible, text_visible], 1))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def deep_model(kind="bert", encoder=None, task=None, seed=0):
    backbone = build_tiny_model(kind)
    options = {"task": task} if task is not None else {}
    config = PTuningConfig(num_virtual_tokens=K, injection="deep", encoder=encoder, max_length=32, **options)
    return PTuningModel(backbone, config, num_labels=3, seed=seed).eval()


def ids_and_mask():
    ids = torch.randint(5, 60, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert"])
def test_deep_prompts_train_only_prompt_and_head_on_each_family(kind):
    model = deep_model(kind)
    ids, mask = ids_and_mask()
    model.train()
    loss = torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for group in model.trainable_parameters().values()
               for p in group)
    width = model.prompted.num_layers * 2 * model.prompted.hidden_size
    assert model.prompt().shape == (K, width) and model.input_tokens == 0


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert"])
def test_deep_prompts_change_the_output_and_a_hidden_prompt_changes_nothing(kind):
    torch.manual_seed(0)
    model = deep_model(kind)
    ids, mask = ids_and_mask()
    with torch.no_grad():
        rows = model.prompt().unsqueeze(0).expand(2, -1, -1)
        bare = model.prompted(ids, mask).states
        prompted = model.prompted(ids, mask, prompts=Prompts(parts={"deep": PromptPart(rows)})).states
        hidden = model.prompted(ids, mask, prompts=Prompts(parts={"deep": PromptPart(rows, torch.zeros(2, K))})).states
    assert (prompted - bare).abs().max() > 1e-3
    torch.testing.assert_close(hidden, bare, atol=1e-5, rtol=1e-5)


def test_deep_prompts_keep_padding_invariance_and_agree_across_kernels():
    from ptune.engine.backbone import prefer_eager_attention

    model = deep_model("bert", encoder=MLPEncoderConfig(depth=1))
    ids, mask = ids_and_mask()
    with torch.no_grad():
        alone = model(ids[1:, :6], mask[1:, :6])
        batched = model(ids, mask)
        torch.testing.assert_close(batched[1:], alone, atol=1e-5, rtol=1e-5)
        assert prefer_eager_attention(model) == 1
        torch.testing.assert_close(model(ids, mask), batched, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", [EmbeddingEncoderConfig(init="random"), MLPEncoderConfig(depth=1)],
                         ids=["embedding", "mlp"])
def test_folded_deep_table_equals_the_encoder_and_survives_save_load(encoder, tmp_path):
    from ptune.engine.model import load_adapter, save_adapter

    model = deep_model("bert", encoder=encoder)
    with torch.no_grad():
        model.encoder.embedding.weight.normal_()
        for p in model.encoder.parameters():
            p.add_(0.01)
    ids, mask = ids_and_mask()
    with torch.no_grad():
        expected = model(ids, mask)
        table = model.fold_prompt().clone()
        torch.testing.assert_close(table, model.encoder())
        torch.testing.assert_close(model(ids, mask), expected)
    model.unfold_prompt()
    save_adapter(model, tmp_path / "adapter", label_names=["a", "b", "c"], backbone_name=None)
    loaded, _, config = load_adapter(tmp_path / "adapter", backbone=build_tiny_model("bert"))
    assert config["ptuning"]["injection"] == "deep" and loaded.encoder is None
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask), expected, atol=1e-6, rtol=1e-6)


def test_deep_vocab_init_on_free_rows_explains_itself():
    from ptune.errors import ConfigError

    with pytest.raises(ConfigError, match="init='random'"):
        deep_model("bert", encoder=EmbeddingEncoderConfig(init="vocab"))


def test_input_prompts_on_a_backbone_with_narrow_embeddings():
    """ELECTRA and ALBERT embed tokens narrower than their hidden size: the virtual tokens take the
    embedding width, deep prompts the hidden width."""
    from transformers import AutoModel, ElectraConfig

    torch.manual_seed(0)
    backbone = AutoModel.from_config(ElectraConfig(vocab_size=80, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=4, intermediate_size=37, max_position_embeddings=64))
    ids, mask = ids_and_mask()
    for injection in ("input", "deep"):
        model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=K, injection=injection), num_labels=2).eval()
        assert model(ids, mask).shape == (2, 2)
    assert PTuningModel(backbone, PTuningConfig(num_virtual_tokens=K, injection="input"), num_labels=2).prompt().shape == (K, 16)
