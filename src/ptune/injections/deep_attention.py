"""Deep prompts inside transformers' attention: prompt keys/values prepended in every layer.

transformers 5.x routes most encoder families' self-attention through `ALL_ATTENTION_FUNCTIONS`, so
ptune registers one more attention function, `ptune_deep`. It concatenates the layer's prompt
keys and values (set on the attention module for the length of one forward pass) in front of
the text's, extends the mask, and calls the kernel the model used before (SDPA or eager). With
no prompt set it is that kernel, unchanged. The prompts need no query, no projection and no
feed-forward work: their cost per request is the k extra attention columns alone. Families whose
attention is their own code (DeBERTa, MPNet) get a per-family hook instead (`ptune.engine.family_attention`);
`ptune.engine.families` says which is which.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ptune.errors import PtuneError

NAME = "ptune_deep"
INNER = "ptune_inner_attention"
"""The config attribute naming the kernel that `ptune_deep` wraps (`sdpa` or `eager`)."""
_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    def mask(**kwargs):  # the mask in the inner kernel's own format (bool for SDPA, additive for eager)
        return ALL_MASK_ATTENTION_FUNCTIONS[getattr(kwargs["config"], INNER, "sdpa")](**kwargs)

    AttentionInterface.register(NAME, prompted_attention)
    AttentionMaskInterface.register(NAME, mask)
    _registered = True


def install(model: nn.Module, family) -> list[nn.Module]:
    """Make `model`'s attention read deep prompts; returns the attention module of each depth, in the
    order a forward pass calls them (`ptune.engine.families` says where they are and how)."""
    layers = family.attention_calls(model)
    expected = family.num_layers(model.config)
    if len(layers) != expected:
        raise PtuneError(f"found {len(layers)} {family.attention_class} layers in {model.config.model_type!r}, "
                         f"expected {expected}; its entry in ptune.engine.families does not match this model")
    if family.hook != "interface":
        # The family's own attention hook reads the prompts: PromptedBackbone installs it with the
        # backbone (family_attention.prepare), which imports this module, never the other way round.
        if not getattr(model, "ptune_family_hooks", False):
            raise PtuneError(f"{model.config.model_type!r} reads deep prompts through its family hook; install it "
                             "first (ptune.engine.family_attention.prepare), as PromptedBackbone does")
        return layers
    _register()
    from transformers import PreTrainedModel

    eager = family.eager_kernel()
    for layer in layers:
        layer.ptune_eager_kernel = eager  # the family's own eager kernel, not BERT's
    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            current = module.config._attn_implementation
            if current != NAME:
                if current not in ("sdpa", "eager"):
                    raise PtuneError(f"attention implementation {current!r} is not supported; use 'sdpa' or 'eager'")
                setattr(module.config, INNER, current)
                module.set_attn_implementation(NAME)
    return layers


def set_inner_kernel(model: nn.Module, kernel: str) -> None:
    """Choose the kernel under `ptune_deep` (what `set_attn_implementation` does without it)."""
    for module in model.modules():
        if hasattr(getattr(module, "config", None), INNER):
            setattr(module.config, INNER, kernel)


class LayerPrompts:
    """What one attention module reads in one forward pass: (keys, values, keep, masks) per call,
    taken in call order. A module shared by several depths (ALBERT) is called once per depth and
    takes a different prompt each time."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.taken = 0

    def take(self) -> tuple:
        if self.taken == len(self.calls):
            raise RuntimeError(f"an attention layer ran more than the {len(self.calls)} times per forward pass that "
                               "its family entry gives it prompts for (ptune.engine.families)")
        self.taken += 1
        return self.calls[self.taken - 1]


@contextmanager
def prompts_in(layers: list[nn.Module], deep: torch.Tensor | None, mask: torch.Tensor | None, *, heads: int):
    """For one forward pass: depth i attends to its prompt keys/values.

    layers: the attention module of each depth, in call order (repeats for shared layers).
    deep: (batch, k, layers * 2 * hidden), split as (layers, key/value, heads, head_dim)."""
    if deep is None:
        yield
        return
    batch, k, width = deep.shape
    per_layer = width // (2 * len(layers))
    kv = deep.view(batch, k, len(layers), 2, heads, per_layer // heads).permute(2, 3, 0, 4, 1, 5)
    # kv: (layers, 2, batch, heads, k, head_dim)
    keep = mask.bool() if mask is not None else None
    masks: dict = {}  # every layer gets the same text mask: extend it once per forward, not per layer
    try:
        for layer in layers:
            layer.ptune_prompt = LayerPrompts()
        for layer, (keys, values) in zip(layers, kv):
            layer.ptune_prompt.calls.append((keys, values, keep, masks))
        yield
    finally:
        for layer in layers:
            layer.ptune_prompt = None


def prompted_attention(module, query, key, value, attention_mask, **kwargs):
    """query/key/value: (batch, heads, seq, head_dim); prepends the layer's prompt keys/values."""
    kernel = getattr(module.config, INNER, "sdpa")
    inner = module.ptune_eager_kernel if kernel == "eager" else _kernel(kernel)
    capture = getattr(module, "ptune_capture", None)
    if capture is not None:  # the backbone's own keys/values of a text, in call order (text-initialised prompts)
        capture.append((key.detach(), value.detach()))
    prompt = getattr(module, "ptune_prompt", None)
    if prompt is not None:
        keys, values, keep, masks = prompt.take()
        key = torch.cat([keys.to(key.dtype), key], dim=2)  # (batch, heads, k + seq, head_dim)
        value = torch.cat([values.to(value.dtype), value], dim=2)
        # The masks cached for this forward pass are alive until it ends, so their ids are unique here;
        # no shape in the key (an exported graph keeps its lengths dynamic).
        cached = (id(attention_mask), kernel, query.dtype)
        if cached not in masks:
            masks[cached] = extend_mask(attention_mask, keep, batch=query.shape[0], q_length=query.shape[2],
                                        k=keys.shape[2], additive=kernel == "eager", dtype=query.dtype,
                                        device=query.device)
        attention_mask = masks[cached]
    return inner(module, query, key, value, attention_mask, **kwargs)


_KERNELS: dict = {}


def _kernel(name: str):
    """The wrapped attention kernel, looked up once per name (this runs in every layer of every pass)."""
    if name not in _KERNELS:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        _KERNELS[name] = ALL_ATTENTION_FUNCTIONS[name]
    return _KERNELS[name]


def extend_mask(mask: torch.Tensor | None, keep: torch.Tensor | None, *, batch: int, q_length: int, k: int,
                additive: bool, dtype: torch.dtype, device) -> torch.Tensor | None:
    """The text's mask with k prompt columns in front, visible, or hidden where `keep` is 0.
    SDPA's masks are bool (True = attend), eager's additive (0 or the dtype's minimum)."""
    if keep is None and mask is None:
        return None  # everything visible: the kernel needs no mask
    if keep is None:
        keep = torch.ones(batch, k, dtype=torch.bool, device=device)
    visible = keep[:, None, None, :].expand(batch, 1, q_length, k)  # (batch, 1, q, k)
    if additive:
        mask_dtype = mask.dtype if mask is not None else dtype
        prompt = torch.zeros(visible.shape, dtype=mask_dtype, device=device).masked_fill(~visible, torch.finfo(mask_dtype).min)
        text = mask if mask is not None else torch.zeros(batch, 1, q_length, 0, dtype=mask_dtype, device=device)
    else:
        prompt = visible
        text = mask if mask is not None else torch.ones(batch, 1, q_length, 0, dtype=torch.bool, device=device)
    if text.shape[-1] == 0:  # no text mask: every text column visible
        fill = 0 if additive else True
        text = torch.full((batch, 1, q_length, q_length), fill, dtype=text.dtype, device=device)
    return torch.cat([prompt, text.expand(batch, 1, q_length, text.shape[-1])], dim=-1)


@contextmanager
def captured_keys_values(layers: list[nn.Module]):
    """For the forward passes inside: every call of the attention modules `layers` (an interface
    family's, `install` gave them) appends its (keys, values), each (batch, heads, seq, head_dim), to
    the yielded list, in call order (a depth per call, shared modules included)."""
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        for layer in layers:
            layer.ptune_capture = calls
        yield calls
    finally:
        for layer in layers:
            layer.ptune_capture = None
