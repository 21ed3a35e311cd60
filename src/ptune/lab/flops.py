"""FLOPs of a BERT-style encoder from its shapes and the actual token counts (2 per multiply-add).

Used to turn measured samples/s into a share of the machine's matmul rate. Only matmuls are
counted (projections, attention scores and mixing, feed-forward); layer norms, softmax and
element-wise work are a few percent and are left out, as is usual for such roofline figures.
"""
from __future__ import annotations


def layer_forward_flops(*, hidden: int, intermediate: int, seq_len: int, extra_keys: int = 0) -> int:
    """One transformer layer on one sequence of `seq_len` tokens; `extra_keys` deep-prompt
    keys/values are attended to but never projected or fed forward."""
    projections = 2 * seq_len * 4 * hidden * hidden  # Q, K, V and output projections
    feed_forward = 2 * seq_len * 2 * hidden * intermediate  # up and down projections
    attention = 2 * 2 * seq_len * (seq_len + extra_keys) * hidden  # scores QK^T and the weighted sum over V
    return projections + feed_forward + attention


def encoder_forward_flops(config, *, seq_len: int, extra_keys: int = 0) -> int:
    """The whole layer stack of a transformers config (BERT, RoBERTa, ELECTRA, MiniLM ...)."""
    hidden = config.hidden_size
    intermediate = config.intermediate_size
    return config.num_hidden_layers * layer_forward_flops(hidden=hidden, intermediate=intermediate, seq_len=seq_len,
                                                          extra_keys=extra_keys)


def ptuning_flops(config, *, text_lengths: list[int], num_virtual_tokens: int, deep_prompt_tokens: int = 0) -> dict[str, int]:
    """Per batch of texts, padding left out (padding is the waste a pipeline can remove).

    `forward` counts the tokens the method computes on: each text plus its virtual tokens (and the
    attention columns of `deep_prompt_tokens` per-layer prompt keys/values); the
    `text_` counts take the text tokens alone. `train` is forward + backward for a frozen backbone,
    where backward needs gradients for the activations only (no weight gradients), about as many
    FLOPs as the forward pass.
    """
    text = sum(encoder_forward_flops(config, seq_len=n) for n in text_lengths)
    with_prompt = sum(encoder_forward_flops(config, seq_len=n + num_virtual_tokens, extra_keys=deep_prompt_tokens)
                      for n in text_lengths)
    return {"text_forward": text, "forward": with_prompt, "text_train": 2 * text, "train": 2 * with_prompt}
