"""Adapters written by earlier releases load unchanged and predict what ptune 0.3.0 predicted: the
joint-seed0 SST-2 and CoNLL adapters of benchmarks/results/multitask (written by ptune 0.2, deep
prompts, on the bundled MiniLM) against the logits 0.3.0 computed for them (tests/format/data)."""
import json
from pathlib import Path

import pytest
import torch

from conftest import ROOT

pytestmark = pytest.mark.integration
EXPECTED = Path(__file__).parent / "data" / "joint-seed0-logits-0.3.0.json"
ADAPTERS = ROOT / "benchmarks" / "results" / "multitask" / "joint-seed0"


@pytest.mark.parametrize("name", ["sst2", "conll"])
def test_an_adapter_of_the_previous_release_predicts_what_it_predicted(name, minilm):
    from ptune.inference import Predictor

    expected = json.loads(EXPECTED.read_text())
    config = json.loads((ADAPTERS / name / "ptune_config.json").read_text())
    assert config["versions"]["ptune"] in ("0.2.0", "0.3.0")  # written by an earlier release
    predictor = Predictor(ADAPTERS / name, precision="fp32", device="cpu")
    outputs = predictor.outputs(predictor.examples(expected["texts"]))
    for got, want in zip(outputs, expected[name]):
        torch.testing.assert_close(got, torch.tensor(want), atol=1e-5, rtol=1e-5)
