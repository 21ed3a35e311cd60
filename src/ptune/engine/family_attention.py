"""Families whose attention is their own code (DeBERTa's disentangled attention, MPNet's relative
bias) or whose masks count positions (ModernBERT's local windows): how ptune gives them prompt
keys/values and its own position ids.

Positions. transformers computes these families' relative positions and local windows from the
index in the sequence. ptune inserts input-level virtual tokens (after [CLS], sharing its position)
and pads shorter prompts in mixed-task batches, so the index is not the position: a row's text
would see different distances depending on what else the batch holds. While ptune runs a forward
(`positions_in`), each family reads the position ids ptune gives it instead; for plain text they
are 0, 1, 2, ..., exactly what the family computes itself.

Prompt keys. Where a family scores keys by relative position, a prompt key must be given one.
ptune places every prompt key at relative distance 0 from every query (as P-tuning v2's DeBERTa
prefix code does): the prompt column's score is its content term plus the family's position terms
for distance 0. The choice keeps prompts position-free (no query is nearer to a prompt than
another) and uses only pretrained position parameters.

Each attention hook replaces one module's forward; with no prompt and no ptune positions set it
calls the family's own forward, unchanged.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from types import MethodType

import torch
from torch import nn


def prepare(model: nn.Module, family) -> None:
    """Install the family's hooks once (a no-op for families that need none)."""
    if getattr(model, "ptune_family_hooks", False):
        return
    if family.hook == "deberta":
        encoder = _module(model, "DebertaV2Encoder")
        encoder.get_rel_pos = MethodType(deberta_relative_positions, encoder)
        for layer in family.attention_calls(model):
            layer.forward = MethodType(deberta_attention, layer)
    elif family.hook == "mpnet":
        encoder = _module(model, "MPNetEncoder")
        encoder.compute_position_bias = MethodType(mpnet_position_bias, encoder)
        for layer in family.attention_calls(model):
            layer.ptune_relative_bias = (encoder.relative_attention_bias, encoder)  # a tuple: not a submodule
            layer.forward = MethodType(mpnet_attention, layer)
    model.ptune_family_hooks = True


def _module(model: nn.Module, class_name: str) -> nn.Module:
    return next(m for m in model.modules() if type(m).__name__ == class_name)


@contextmanager
def positions_in(model: nn.Module, family, inputs: dict):
    """For one forward pass: the family reads ptune's position ids (`inputs['position_ids']`).
    Yields the backbone's keyword arguments (ModernBERT's carry its two masks, built from them)."""
    positions = inputs.get("position_ids")
    if positions is None or family.positions == "absolute":
        yield inputs
        return
    if family.positions == "rotary":
        yield {**inputs, "attention_mask": modernbert_masks(model, inputs["attention_mask"], positions,
                                                            inputs["inputs_embeds"].dtype)}
        return
    encoder = _module(model, {"deberta": "DebertaV2Encoder", "mpnet": "MPNetEncoder"}[family.hook])
    encoder.ptune_positions = positions
    try:
        yield inputs
    finally:
        encoder.ptune_positions = None


def take_prompt(module) -> tuple | None:
    prompt = getattr(module, "ptune_prompt", None)
    return None if prompt is None else prompt.take()


def prompt_visible(keep: torch.Tensor | None, batch: int, k: int, device) -> torch.Tensor:
    """(batch, 1, 1, k) True where a row's prompt position is real."""
    if keep is None:
        return torch.ones(batch, 1, 1, k, dtype=torch.bool, device=device)
    return keep[:, None, None, :]


def additive(visible: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(~visible, torch.finfo(dtype).min)


# ---- ModernBERT: local windows counted in positions ------------------------------------------------
def modernbert_masks(model: nn.Module, mask: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype) -> dict:
    """ModernBERT's two masks from ptune's positions: global layers see every real token, local
    ones those within `sliding_window` positions (as transformers counts indices for plain text).
    Each query also sees itself, so no row of a padded query is empty (SDPA would give NaN)."""
    from ptune.injections.deep_attention import INNER, NAME

    batch, length = mask.shape
    visible = mask.bool()[:, None, None, :].expand(batch, 1, length, length)
    itself = torch.eye(length, dtype=torch.bool, device=mask.device)[None, None]
    near = ((positions[:, :, None] - positions[:, None, :]).abs() <= model.config.sliding_window)[:, None]
    full, local = visible | itself, (visible & near) | itself
    kernel = model.config._attn_implementation
    if kernel == NAME:
        kernel = getattr(model.config, INNER, "sdpa")
    if kernel == "eager":
        full, local = additive(full, dtype), additive(local, dtype)
    return {"full_attention": full, "sliding_attention": local}


# ---- DeBERTa-v2/v3: disentangled attention -----------------------------------------------------
def deberta_relative_positions(self, hidden_states, query_states=None, relative_pos=None):
    """DebertaV2Encoder.get_rel_pos from ptune's positions while they are set: (batch, n, n), the
    bucketed distance of query i to key j (position_i - position_j), as DeBERTa builds from indices."""
    positions = getattr(self, "ptune_positions", None)
    if positions is None or relative_pos is not None or not self.relative_attention:
        return type(self).get_rel_pos(self, hidden_states, query_states, relative_pos)
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    distance = positions[:, :, None] - positions[:, None, :]
    if self.position_buckets > 0 and self.max_relative_positions > 0:
        distance = make_log_bucket_position(distance, self.position_buckets, self.max_relative_positions)
    return distance.to(torch.long)


def deberta_attention(self, hidden_states, attention_mask, output_attentions=False, query_states=None,
                      relative_pos=None, rel_embeddings=None):
    """DisentangledSelfAttention.forward with prompt keys/values in front of the text's and one
    relative position per row.

    Query i scores key j with content q_i.k_j, content->position q_i.Kr[d_ij] and
    position->content k_j.Qr[d_ij], each over sqrt(head_dim * scale_factor), where d_ij is the
    bucketed distance position_i - position_j for a text key and 0 for a prompt key.
    """
    prompt = take_prompt(self)
    per_row = relative_pos is not None and relative_pos.dim() == 3 and relative_pos.shape[0] > 1
    if prompt is None and not per_row:
        return type(self).forward(self, hidden_states, attention_mask, output_attentions=output_attentions,
                                  query_states=query_states, relative_pos=relative_pos, rel_embeddings=rel_embeddings)
    heads = self.num_attention_heads
    batch, n = hidden_states.shape[:2]
    query = self.transpose_for_scores(self.query_proj(hidden_states if query_states is None else query_states), heads)
    key = self.transpose_for_scores(self.key_proj(hidden_states), heads)  # (batch * heads, n, head_dim)
    value = self.transpose_for_scores(self.value_proj(hidden_states), heads)
    visible = attention_mask.bool().expand(batch, 1, n, n)
    distance = None
    if self.relative_attention:
        if relative_pos is None:
            from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

            relative_pos = build_relative_position(query, key, bucket_size=self.position_buckets,
                                                   max_position=self.max_relative_positions)
        distance = relative_pos.reshape(-1, n, n).expand(batch, n, n)
    scores = deberta_scores(self, query, key, distance, rel_embeddings)  # (batch * heads, n, n)
    if prompt is not None:
        keys, values, keep, _ = prompt  # (batch, heads, k, head_dim)
        k = keys.shape[2]
        prompt_keys = keys.to(key.dtype).reshape(batch * heads, k, -1)
        # Distance 0 for every prompt column: its position terms are one number per query (c2p) and
        # one per prompt key (p2c), not a gather over every relative distance.
        prompt_scores = deberta_distance_zero_scores(self, query, prompt_keys, rel_embeddings)
        scores = torch.cat([prompt_scores, scores], dim=-1)
        value = torch.cat([values.to(value.dtype).reshape(batch * heads, k, -1), value], dim=1)
        visible = torch.cat([prompt_visible(keep, batch, k, visible.device).expand(batch, 1, n, k), visible], dim=-1)
    scores = scores.view(batch, heads, n, -1).masked_fill(~visible, torch.finfo(query.dtype).min)
    probs = self.dropout(nn.functional.softmax(scores, dim=-1))
    context = torch.bmm(probs.view(-1, n, value.shape[1]), value)
    context = context.view(batch, heads, n, -1).permute(0, 2, 1, 3).contiguous().view(batch, n, -1)
    return (context, probs) if output_attentions else (context, None)


def deberta_distance_zero_scores(self, query, prompt_keys, rel_embeddings):
    """(batch * heads, n, k): q_i.pk_j + q_i.Kr[0] + pk_j.Qr[0], each over sqrt(d * scale_factor); the
    relative embedding of distance 0 is row `span` for both position terms."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import scaled_size_sqrt

    scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
    scale = scaled_size_sqrt(query, scale_factor).to(dtype=query.dtype)
    scores = torch.bmm(query, prompt_keys.transpose(-1, -2) / scale)
    if not self.relative_attention:
        return scores
    heads, span = self.num_attention_heads, self.pos_ebd_size
    zero = self.pos_dropout(rel_embeddings)[span: span + 1].unsqueeze(0)  # (1, 1, hidden)
    repeat = query.shape[0] // heads
    if "c2p" in self.pos_att_type:
        project = self.key_proj if self.share_att_key else self.pos_key_proj
        pos_key = self.transpose_for_scores(project(zero), heads).repeat(repeat, 1, 1)  # (batch * heads, 1, d)
        scores = scores + torch.bmm(query, pos_key.transpose(-1, -2)) / scale  # one column, broadcast over k
    if "p2c" in self.pos_att_type:
        project = self.query_proj if self.share_att_key else self.pos_query_proj
        pos_query = self.transpose_for_scores(project(zero), heads).repeat(repeat, 1, 1)
        scores = scores + torch.bmm(prompt_keys, pos_query.transpose(-1, -2)).transpose(-1, -2) / scale  # one row
    return scores


def deberta_scores(self, query, key, distance, rel_embeddings):
    """(batch * heads, n, m) raw scores of n queries against m keys; `distance`: (batch, n, m)
    bucketed relative positions, or None without relative attention. DeBERTa indexes its relative
    embeddings at clamp(distance + span) for both position terms."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import scaled_size_sqrt

    scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
    scale = scaled_size_sqrt(query, scale_factor)
    scores = torch.bmm(query, key.transpose(-1, -2) / scale.to(dtype=query.dtype))
    if distance is None:
        return scores
    heads, span = self.num_attention_heads, self.pos_ebd_size
    batch, n, m = distance.shape
    relative = self.pos_dropout(rel_embeddings)[0: span * 2].unsqueeze(0)
    index = torch.clamp(distance + span, 0, span * 2 - 1)[:, None].expand(batch, heads, n, m).reshape(-1, n, m)

    def positions(projection):  # (batch * heads, 2 span, head_dim)
        return self.transpose_for_scores(projection(relative), heads).repeat(batch, 1, 1)

    if "c2p" in self.pos_att_type:
        pos_key = positions(self.key_proj if self.share_att_key else self.pos_key_proj)
        c2p = torch.gather(torch.bmm(query, pos_key.transpose(-1, -2)), -1, index)
        scores = scores + c2p / scaled_size_sqrt(pos_key, scale_factor).to(dtype=c2p.dtype)
    if "p2c" in self.pos_att_type:
        pos_query = positions(self.query_proj if self.share_att_key else self.pos_query_proj)
        p2c = torch.gather(torch.bmm(key, pos_query.transpose(-1, -2)), -1, index.transpose(-1, -2)).transpose(-1, -2)
        scores = scores + p2c / scaled_size_sqrt(pos_query, scale_factor).to(dtype=p2c.dtype)
    return scores


# ---- MPNet: relative position bias added to the scores -------------------------------------------
def mpnet_position_bias(self, x, position_ids=None, num_buckets=32):
    """MPNetEncoder.compute_position_bias from ptune's positions while they are set: (batch, heads,
    n, n), the bias of key position minus query position (MPNet's own position_ids path handles
    one row only)."""
    positions = getattr(self, "ptune_positions", None)
    if positions is None:
        return type(self).compute_position_bias(self, x, position_ids, num_buckets)
    relative = positions[:, None, :] - positions[:, :, None]  # memory - context, as MPNet counts
    bias = self.relative_attention_bias(self.relative_position_bucket(relative, num_buckets=num_buckets))
    return bias.permute(0, 3, 1, 2).expand(x.shape[0], -1, -1, -1).contiguous()


def mpnet_attention(self, hidden_states, attention_mask=None, position_bias=None, output_attentions=False, **kwargs):
    """MPNetSelfAttention.forward with prompt keys/values in front; a prompt column scores
    q.pk / sqrt(d) plus the layer's relative bias for distance 0."""
    prompt = take_prompt(self)
    if prompt is None:
        return type(self).forward(self, hidden_states, attention_mask, position_bias,
                                  output_attentions=output_attentions, **kwargs)
    keys, values, keep, masks = prompt
    batch, k = keys.shape[0], keys.shape[2]
    shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    q = self.q(hidden_states).view(shape).transpose(1, 2)  # (batch, heads, n, d)
    key = torch.cat([keys.to(q.dtype), self.k(hidden_states).view(shape).transpose(1, 2)], dim=2)
    value = torch.cat([values.to(q.dtype), self.v(hidden_states).view(shape).transpose(1, 2)], dim=2)
    scores = torch.matmul(q, key.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
    # Every layer reads the same relative bias and mask: extend them once per forward pass.
    cached = ("mpnet", id(position_bias), id(attention_mask))
    if cached not in masks:
        masks[cached] = mpnet_prompt_bias(self, position_bias, attention_mask, keep, batch, k, q.shape[2], scores)
    scores = scores + masks[cached]
    probs = self.dropout(nn.functional.softmax(scores, dim=-1))
    context = torch.matmul(probs, value).permute(0, 2, 1, 3).contiguous()
    output = self.o(context.view(*context.shape[:-2], self.all_head_size))
    return (output, probs) if output_attentions else (output,)


def mpnet_prompt_bias(self, position_bias, attention_mask, keep, batch: int, k: int, n: int, like: torch.Tensor):
    """(batch, heads | 1, n, k + n): the bias of distance 0 and the prompt mask in front of the text's
    relative bias and mask, all additive."""
    table, encoder = self.ptune_relative_bias
    zero = encoder.relative_position_bucket(torch.zeros(1, dtype=torch.long, device=like.device))
    heads = table.weight.shape[1]
    prompt = table(zero)[0].to(like.dtype)[None, :, None, None] + additive(
        prompt_visible(keep, batch, k, like.device), like.dtype)  # (batch, heads, 1, k)
    text = position_bias.to(like.dtype) if position_bias is not None else like.new_zeros(1, heads, n, n)
    if attention_mask is not None:
        text = text + (additive(attention_mask, like.dtype) if attention_mask.dtype == torch.bool
                       else attention_mask.to(like.dtype))
    text = text.expand(batch, heads, n, n)
    return torch.cat([prompt.expand(batch, heads, n, k), text], dim=-1)
