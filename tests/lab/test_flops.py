import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import build_tiny_model
from ptune.lab.flops import encoder_forward_flops, layer_forward_flops, ptuning_flops


def test_layer_count_by_hand():
    # hidden 32, intermediate 37, 5 tokens: 2*5*4*32*32 + 2*5*2*32*37 + 2*2*5*5*32
    assert layer_forward_flops(hidden=32, intermediate=37, seq_len=5) == 40960 + 23680 + 3200


def test_formula_matches_torch_flop_counter_on_the_tiny_bert():
    model = build_tiny_model("bert", vocab_size=100)
    model.set_attn_implementation("eager")  # plain matmuls, which the counter sees (fused SDPA it may not)
    encoder = model.encoder  # the layer stack, without embeddings and pooler
    states = torch.randn(1, 5, 32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder(states)
    assert counter.get_total_flops() == encoder_forward_flops(model.config, seq_len=5)


def test_counts_with_and_without_the_virtual_tokens():
    model = build_tiny_model("bert", vocab_size=100)
    counts = ptuning_flops(model.config, text_lengths=[5, 7], num_virtual_tokens=3)
    assert counts["text_forward"] == encoder_forward_flops(model.config, seq_len=5) + encoder_forward_flops(model.config, seq_len=7)
    assert counts["forward"] == encoder_forward_flops(model.config, seq_len=8) + encoder_forward_flops(model.config, seq_len=10)
    assert counts["train"] == 2 * counts["forward"] and counts["text_train"] == 2 * counts["text_forward"]
