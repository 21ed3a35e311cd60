"""Predicting with an exported adapter: ONNX Runtime and `tokenizers` give the Predictor's answers,
and `ptune predict` on an export never imports torch."""
import json
import subprocess
import sys

import pytest

from ptune.errors import PtuneError
from ptune.inference.onnx_predictor import OnnxPredictor
from ptune.inference.predictor import Predictor

pytest.importorskip("onnxruntime")

TEXTS = ["the food was great and the staff were kind", "bad", "an honest, moving story of two friends " * 12]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_backbone_dir):
    from conftest import build_tiny_model, save_random_adapter
    from ptune.inference.export import export_onnx

    backbone = build_tiny_model("bert")
    folder = tmp_path_factory.mktemp("onnx-predict")
    made = {}
    for name, injection, inputs in (("deep", "deep", None), ("input", "input", None), ("pairs", "input", "pair")):
        adapter = save_random_adapter(backbone, tiny_backbone_dir, folder / name, task="classification",
                                      injection=injection, placement="after_cls", k=4, seed=len(made), inputs=inputs)
        export_onnx(adapter, folder / f"{name}-onnx")
        made[name] = (adapter, folder / f"{name}-onnx")
    return made


@pytest.mark.parametrize("name", ["deep", "input", "pairs"])
def test_an_export_answers_like_the_predictor(exports, name):
    from ptune.data import Example

    adapter, exported = exports[name]
    inputs = [Example(t, TEXTS[(i + 1) % 3]) for i, t in enumerate(TEXTS)] if name == "pairs" else TEXTS
    expected = Predictor(adapter, precision="fp32").predict(inputs)
    found = OnnxPredictor(exported, batch_size=2).predict(inputs)
    assert [f["label"] for f in found] == [e["label"] for e in expected]
    for f, e in zip(found, expected):
        assert f["probabilities"].keys() == e["probabilities"].keys()
        assert max(abs(f["probabilities"][k] - e["probabilities"][k]) for k in f["probabilities"]) < 1e-4


def test_ptune_predict_on_an_export_never_imports_torch(exports, tmp_path):
    _, exported = exports["deep"]
    script = ("import sys; from ptune.cli import main; code = main(['predict', '--adapter', sys.argv[1], 'great food']);"
              " assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, str(exported)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] in json.loads((exported / "ptune_export.json").read_text())["label_names"]


def test_an_export_refuses_what_it_cannot_do(exports, tmp_path, capsys):
    from ptune.cli import main

    _, exported = exports["deep"]
    assert main(["predict", "--adapter", str(exported), "great", "--quantize", "int8"]) == 2
    assert "holds its own backbone" in capsys.readouterr().err
    config = json.loads((exported / "ptune_export.json").read_text())
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    (tagger / "model.onnx").write_bytes((exported / "model.onnx").read_bytes())
    (tagger / "ptune_export.json").write_text(json.dumps({**config, "task": "token_classification"}))
    with pytest.raises(PtuneError, match="decodes \\['classification'\\] only"):
        OnnxPredictor(tagger)
    (tagger / "ptune_export.json").write_text("{")
    with pytest.raises(PtuneError, match="damaged"):
        OnnxPredictor(tagger)
