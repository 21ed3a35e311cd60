"""Per-family prompt hooks against hand-computed references: DeBERTa's disentangled attention with
prompt keys at relative distance 0, MPNet's relative bias, ModernBERT's local windows (prompts
visible to every query), ALBERT's shared layer taking a different prompt at each depth."""
import math

import pytest
import torch

from family_configs import family_config, family_model
from ptune.config import PTuningConfig
from ptune.engine.model import PTuningModel
from ptune.engine.families import family_of
from ptune.errors import PtuneError
from ptune.engine import family_attention
from ptune.injections.deep_attention import LayerPrompts

BATCH, N, K = 2, 7, 3


def with_prompt(module, keys, values, keep):
    module.ptune_prompt = LayerPrompts()
    module.ptune_prompt.calls.append((keys, values, keep, {}))


def text_mask():
    mask = torch.ones(BATCH, N, dtype=torch.long)
    mask[1, 5:] = 0
    return mask


def prompt_keep():
    return torch.tensor([[1, 1, 1], [1, 1, 0]]).bool()  # row 1 has a shorter, padded prompt


def deberta_parts(share_att_key: bool):
    from transformers import AutoModel

    config = family_config("deberta-v2")
    config.share_att_key = share_att_key
    torch.manual_seed(0)
    model = AutoModel.from_config(config).eval()
    family_attention.prepare(model, family_of(model.config))
    encoder = model.encoder
    attention = encoder.layer[0].attention.self
    hidden = torch.randn(BATCH, N, config.hidden_size)
    mask = text_mask()
    return model, encoder, attention, hidden, mask


def deberta_reference(attention, hidden, mask, rel_embeddings, keys, values, keep, positions):
    """Attention of one DeBERTa layer written out per query i and key j: content + c2p + p2c, the
    position terms read at clamp(bucket(p_i - p_j) + span), a prompt key at distance 0."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    heads, d = attention.num_attention_heads, attention.attention_head_size
    span = attention.pos_ebd_size
    scale = math.sqrt(d * 3)  # c2p and p2c both on

    def split(x):  # (..., heads * d) -> (..., heads, d)
        return x.view(*x.shape[:-1], heads, d)

    q, k, v = (split(proj(hidden)) for proj in (attention.query_proj, attention.key_proj, attention.value_proj))
    key_proj = attention.key_proj if attention.share_att_key else attention.pos_key_proj
    query_proj = attention.query_proj if attention.share_att_key else attention.pos_query_proj
    pos_key, pos_query = split(key_proj(rel_embeddings)), split(query_proj(rel_embeddings))  # (2 span, heads, d)
    out = torch.zeros(BATCH, N, heads, d)
    for b in range(BATCH):
        for h in range(heads):
            for i in range(N):
                scores, vals = [], []
                for j in range(K):
                    if keep[b, j]:
                        pk = keys[b, h, j]
                        scores.append((q[b, i, h] @ pk + q[b, i, h] @ pos_key[span, h] + pk @ pos_query[span, h]) / scale)
                        vals.append(values[b, h, j])
                for j in range(N):
                    if mask[b, j] and mask[b, i]:
                        delta = make_log_bucket_position(torch.tensor(positions[i] - positions[j]),
                                                         attention.position_buckets, attention.max_relative_positions)
                        r = int(torch.clamp(delta + span, 0, 2 * span - 1))
                        scores.append((q[b, i, h] @ k[b, j, h] + q[b, i, h] @ pos_key[r, h] + k[b, j, h] @ pos_query[r, h])
                                      / scale)
                        vals.append(v[b, j, h])
                if not mask[b, i]:
                    continue  # a padded query: its output is never read
                weights = torch.softmax(torch.stack(scores), 0)
                out[b, i, h] = (weights[:, None] * torch.stack(vals)).sum(0)
    return out.view(BATCH, N, heads * d)


@pytest.mark.parametrize("share_att_key", [True, False])
def test_deberta_prompt_keys_sit_at_relative_distance_zero(share_att_key):
    model, encoder, attention, hidden, mask = deberta_parts(share_att_key)
    heads, d = attention.num_attention_heads, attention.attention_head_size
    keys, values = torch.randn(BATCH, heads, K, d), torch.randn(BATCH, heads, K, d)
    positions = [0, 0, 1, 2, 3, 4, 6]  # not the indices: two tokens share position 0, one is skipped
    rel_embeddings = encoder.get_rel_embedding()
    encoder.ptune_positions = torch.tensor([positions] * BATCH)
    relative_pos = encoder.get_rel_pos(hidden)
    encoder.ptune_positions = None
    with_prompt(attention, keys, values, prompt_keep())
    with torch.no_grad():
        got, _ = attention(hidden, encoder.get_attention_mask(mask), relative_pos=relative_pos,
                           rel_embeddings=rel_embeddings)
        expected = deberta_reference(attention, hidden, mask, rel_embeddings[: 2 * attention.pos_ebd_size], keys,
                                     values, prompt_keep(), positions)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-4)


def test_deberta_hook_without_prompts_is_debertas_own_attention():
    """ptune's path (one relative position per row) on plain positions 0..n-1 gives DeBERTa's output."""
    model, encoder, attention, hidden, mask = deberta_parts(True)
    rel_embeddings = encoder.get_rel_embedding()
    stock_pos = encoder.get_rel_pos(hidden)  # (1, n, n) from indices
    encoder.ptune_positions = torch.arange(N).expand(BATCH, N)
    per_row = encoder.get_rel_pos(hidden)  # (batch, n, n): ptune's path
    encoder.ptune_positions = None
    assert per_row.shape == (BATCH, N, N) and torch.equal(per_row[0], stock_pos[0])
    extended = encoder.get_attention_mask(mask)
    with torch.no_grad():
        stock, _ = type(attention).forward(attention, hidden, extended, relative_pos=stock_pos,
                                           rel_embeddings=rel_embeddings)
        ours, _ = attention(hidden, extended, relative_pos=per_row, rel_embeddings=rel_embeddings)
    real = mask.bool()
    torch.testing.assert_close(ours[real], stock[real], atol=1e-6, rtol=1e-5)


def test_a_hidden_prompt_leaves_every_hooked_family_unchanged():
    for model_type in ("deberta-v2", "mpnet"):
        model = PTuningModel(family_model(model_type), PTuningConfig(injection="deep", num_virtual_tokens=K,
                                                                     max_length=16), num_labels=2).eval()
        ids, mask = torch.randint(5, 100, (BATCH, N)), text_mask()
        bare = model.task.logits(model.head, model.prompted(ids, mask), model.config.task)
        from ptune.injections import PromptPart, Prompts

        part = PromptPart(rows=model.prompt().unsqueeze(0).expand(BATCH, -1, -1),
                          mask=torch.zeros(BATCH, K, dtype=torch.long))
        with torch.no_grad():
            hidden = model.task.logits(model.head, model.prompted(ids, mask, prompts=Prompts(parts={"deep": part})),
                                       model.config.task)
            shown = model(ids, mask)
        torch.testing.assert_close(hidden, bare, atol=1e-6, rtol=1e-5)
        assert (shown - bare).abs().max() > 1e-3, model_type


def test_mpnet_prompt_keys_take_the_bias_of_distance_zero():
    model = family_model("mpnet")
    family_attention.prepare(model, family_of(model.config))
    attention = model.encoder.layer[0].attention.attn
    heads, d = attention.num_attention_heads, attention.attention_head_size
    hidden = torch.randn(BATCH, N, 32)
    mask = text_mask()
    keys, values = torch.randn(BATCH, heads, K, d), torch.randn(BATCH, heads, K, d)
    bias = model.encoder.compute_position_bias(hidden)  # (batch, heads, n, n)
    additive = torch.zeros(BATCH, 1, N, N).masked_fill(~mask.bool()[:, None, None, :], torch.finfo(torch.float).min)
    with_prompt(attention, keys, values, prompt_keep())
    with torch.no_grad():
        (got,) = attention(hidden, additive, bias)
        q, k, v = (proj(hidden).view(BATCH, N, heads, d).transpose(1, 2) for proj in
                   (attention.q, attention.k, attention.v))
        zero = model.encoder.relative_attention_bias.weight[0]  # bucket of distance 0
        scores = torch.cat([q @ keys.transpose(-1, -2) / math.sqrt(d) + zero[None, :, None, None],
                            q @ k.transpose(-1, -2) / math.sqrt(d) + bias], -1)
        visible = torch.cat([prompt_keep(), mask.bool()], 1)[:, None, None, :]
        weights = scores.masked_fill(~visible, float("-inf")).softmax(-1)
        context = (weights @ torch.cat([values, v], 2)).transpose(1, 2).reshape(BATCH, N, heads * d)
        expected = attention.o(context)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_modernbert_local_layers_let_every_query_see_the_prompt_and_keep_their_window():
    model = PTuningModel(family_model("modernbert"), PTuningConfig(injection="deep", num_virtual_tokens=K,
                                                                   max_length=16), num_labels=2).eval()
    from ptune.injections.deep_attention import set_inner_kernel

    set_inner_kernel(model.backbone, "eager")  # eager returns the attention weights
    layers = model.backbone.layers
    local = next(layer for layer in layers if layer.attention_type == "sliding_attention")
    window = model.backbone.config.sliding_window
    recorded = {}

    def record(module, args, output):
        recorded["weights"] = output[1]

    local.attn.register_forward_hook(record)
    n = 3 * window + 4  # far wider than the window
    ids = torch.randint(5, 100, (1, n))
    with torch.no_grad():
        model(ids, torch.ones_like(ids))
    weights = recorded["weights"][0]  # (heads, n, k + n)
    assert weights.shape[-1] == K + n
    assert (weights[:, :, :K] > 0).all()  # every query, however far from the start, sees every prompt
    text = weights[:, :, K:]
    far = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs() > window
    assert (text[:, far] == 0).all() and (text[:, ~far] > 0).all()


def test_modernbert_unpadded_flash_attention_is_refused_clearly():
    model = family_model("modernbert")
    model.config._attn_implementation = "flash_attention_2"
    from ptune.injections.deep_attention import install

    with pytest.raises(PtuneError, match="attention implementation 'flash_attention_2' is not supported; use 'sdpa'"):
        install(model, family_of(model.config))


def test_albert_shared_layer_takes_a_different_prompt_at_each_depth():
    model = PTuningModel(family_model("albert"), PTuningConfig(injection="deep", num_virtual_tokens=K,
                                                               max_length=16), num_labels=2).eval()
    calls = model.prompted.attention_layers
    assert len(calls) == 4 and len(set(map(id, calls))) == 2  # 4 depths, 2 shared modules
    taken = []

    def record(module, args, output):
        prompts = module.ptune_prompt
        taken.append(prompts.calls[prompts.taken - 1][0])  # the keys this call just read

    for module in set(calls):
        module.register_forward_hook(record)
    ids = torch.randint(5, 100, (BATCH, N))
    with torch.no_grad():
        model(ids, text_mask())
    heads = model.backbone.config.num_attention_heads
    table = model.prompt()  # (k, depths * 2 * hidden)
    per_depth = table.view(K, 4, 2, heads, -1).permute(1, 2, 3, 0, 4)[:, 0]  # (depths, heads, k, head_dim) keys
    assert len(taken) == 4
    for depth, keys in enumerate(taken):
        torch.testing.assert_close(keys[0], per_depth[depth])
    assert all(module.ptune_prompt is None for module in calls)  # nothing left set after the pass
