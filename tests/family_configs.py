"""A tiny random config of every family in ptune.engine.families (no download): small enough for a
test, shaped like the released models where it matters (DeBERTa-v3's relative attention with log
buckets and shared keys, ModernBERT's local-window layers, ALBERT's shared layers in two groups)."""
from __future__ import annotations

import torch

COMMON = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
POSITIONS = 70


def family_config(model_type: str, vocab_size: int = 120):
    from transformers import AutoConfig

    sizes = dict(COMMON, vocab_size=vocab_size, max_position_embeddings=POSITIONS)
    extra = {
        "distilbert": dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37),
        "electra": dict(embedding_size=16),
        "roberta": dict(pad_token_id=1),
        "xlm-roberta": dict(pad_token_id=1),
        "camembert": dict(pad_token_id=1),
        "mpnet": dict(pad_token_id=1),
        # DeBERTa-v3-base's attention settings: no absolute positions, relative c2p+p2c with log
        # buckets (8 here, so that a 9-token input already uses them), keys shared with positions.
        "deberta-v2": dict(relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=8,
                           max_relative_positions=-1, position_biased_input=False, share_att_key=True,
                           norm_rel_ebd="layer_norm", type_vocab_size=0),
        # Layer 1 is a local-window layer (every 2nd is global); a window of 4 tokens is narrower
        # than the test inputs, so the window matters.
        "modernbert": dict(global_attn_every_n_layers=2, local_attention=4, pad_token_id=0, bos_token_id=2,
                           eos_token_id=3, cls_token_id=2, sep_token_id=3, hidden_activation="gelu"),
        # 4 depths served by 2 groups of one shared layer each: a module is called twice per pass.
        "albert": dict(embedding_size=16, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1),
    }.get(model_type, {})
    if model_type == "distilbert":
        sizes = dict(vocab_size=vocab_size, max_position_embeddings=POSITIONS)
    if model_type in ("deberta-v2", "mpnet"):
        # Weights 10x the released init scale, so that the relative-position terms move outputs by far
        # more than the tests' tolerance (at 0.02 a wrong position changes them by < 1e-5).
        extra["initializer_range"] = 0.2
    return AutoConfig.for_model(model_type, **{**sizes, **extra})


def family_model(model_type: str, vocab_size: int = 120, seed: int = 0):
    from transformers import AutoModel

    torch.manual_seed(seed)
    return AutoModel.from_config(family_config(model_type, vocab_size)).eval()
