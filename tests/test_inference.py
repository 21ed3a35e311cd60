"""Inference options: int8 quantisation, torch.compile, bad combinations refused."""
import pytest
import torch

from conftest import DEMO
from ptune.data import load_examples
from ptune.errors import ConfigError
from ptune.inference import Predictor


@pytest.fixture(scope="module")
def adapter(tiny_backbone_dir, tmp_path_factory):
    from test_training import train

    output = tmp_path_factory.mktemp("inference") / "adapter"
    assert train(tiny_backbone_dir, output).returncode == 0
    return output


@pytest.fixture(scope="module")
def dev():
    return load_examples(DEMO, split="dev")


def test_int8_backbone_is_quantised_and_agrees_with_fp32(adapter, dev):
    fp32 = Predictor(adapter)
    int8 = Predictor(adapter, quantize="int8")
    linears = [m for m in int8.model.backbone.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert linears and not any(isinstance(m, torch.nn.Linear) for m in int8.model.backbone.modules())
    assert isinstance(int8.model.head.out, torch.nn.Linear)  # the trained head stays fp32
    agreement = (fp32.logits(dev).argmax(-1) == int8.logits(dev).argmax(-1)).float().mean().item()
    assert agreement >= 0.9


def test_compiled_predictor_matches_eager(adapter, dev):
    eager = Predictor(adapter).logits(dev[:20])
    compiled = Predictor(adapter, compile=True).logits(dev[:20])
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


def test_int8_with_bf16_is_refused_with_the_reason(adapter):
    with pytest.raises(ConfigError, match="precision='fp32'"):
        Predictor(adapter, quantize="int8", precision="bf16")
    with pytest.raises(ConfigError, match="quantize='int4'"):
        Predictor(adapter, quantize="int4")
