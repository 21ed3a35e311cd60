"""Inference options: int8 quantisation, torch.compile, bad combinations refused."""
import pytest
import torch

from conftest import DEMO
from ptune.data import load_examples
from ptune.errors import ConfigError
from ptune.inference.predictor import Predictor


@pytest.fixture(scope="module")
def adapter(tiny_run, tmp_path_factory):
    from conftest import copy_of_tiny_run

    return copy_of_tiny_run(tiny_run, tmp_path_factory, "inference")


@pytest.fixture(scope="module")
def dev():
    return load_examples(DEMO, split="dev")


def test_int8_backbone_is_quantised_and_agrees_with_fp32(adapter, dev):
    fp32 = Predictor(adapter, precision="fp32")
    int8 = Predictor(adapter, quantize="int8")
    linears = [m for m in int8.model.backbone.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert linears and not any(isinstance(m, torch.nn.Linear) for m in int8.model.backbone.modules())
    assert isinstance(int8.model.head.out, torch.nn.Linear)  # the trained head stays fp32
    agreement = (fp32.logits(dev).argmax(-1) == int8.logits(dev).argmax(-1)).float().mean().item()
    assert agreement >= 0.9


def test_compiled_predictor_matches_eager(adapter, dev):
    # fp32 on both sides: the default precision, "auto", picks bf16 on CPUs with avx512_bf16 or AMX
    eager = Predictor(adapter, precision="fp32").logits(dev[:20])
    compiled = Predictor(adapter, precision="fp32", compile=True).logits(dev[:20])
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


def test_int8_with_bf16_is_refused_with_the_reason(adapter):
    with pytest.raises(ConfigError, match="precision='fp32'"):
        Predictor(adapter, quantize="int8", precision="bf16")
    with pytest.raises(ConfigError, match="quantize='int4'"):
        Predictor(adapter, quantize="int4")


def test_bf16_predictor_stores_the_backbone_in_bf16_and_agrees_with_autocast(adapter, dev):
    from ptune.engine.model import load_adapter
    from ptune.engine.backbone import prefer_eager_attention
    from ptune.data import tokenize
    from ptune.engine.batched import predict_logits

    fp32 = Predictor(adapter, precision="fp32")  # not "auto": that is bf16 on CPUs with native bf16
    prefer_eager_attention(fp32.model)  # as the bf16 Predictor does on CPU
    features = tokenize(dev, tokenizer=fp32.tokenizer, max_length=fp32.model.max_text_length(), labels=None)
    kwargs = {"batch_size": fp32.batch_size, "pad_token_id": fp32.tokenizer.pad_token_id}
    whole = predict_logits(fp32.model, features, bf16=True, **kwargs)  # prompt table: the whole-backbone path
    assert all(p.dtype == torch.float32 for p in fp32.model.parameters())  # the per-call cast was undone
    training, _, _ = load_adapter(adapter, with_encoder=True)  # runs its encoder: the autocast path
    prefer_eager_attention(training)
    autocast = predict_logits(training, features, bf16=True, **kwargs)
    bf16 = Predictor(adapter, precision="bf16")
    assert all(p.dtype == torch.bfloat16 for p in bf16.model.backbone.parameters())
    assert bf16.model.prompt_table.dtype == torch.float32 and bf16.model.head.out.weight.dtype == torch.float32
    logits = bf16.logits(dev)
    assert logits.dtype == torch.float32 and torch.equal(logits, whole)  # stored once = cast per call
    torch.testing.assert_close(logits, autocast, atol=0.1, rtol=0.05)  # bf16 either way, rounded differently
    assert (logits.argmax(-1) == autocast.argmax(-1)).float().mean() >= 0.95


def test_batches_in_input_order_give_the_same_logits(adapter, dev):
    from ptune.data import tokenize
    from ptune.engine.batched import predict_logits

    predictor = Predictor(adapter)
    features = tokenize(dev, tokenizer=predictor.tokenizer, max_length=predictor.model.max_text_length(), labels=None)
    kwargs = {"batch_size": 7, "pad_token_id": predictor.tokenizer.pad_token_id}
    torch.testing.assert_close(predict_logits(predictor.model, features, sort_by_length=False, **kwargs),
                               predict_logits(predictor.model, features, **kwargs), atol=1e-5, rtol=1e-4)
