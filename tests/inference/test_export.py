"""ONNX export: the folded adapter and its backbone as one graph that onnxruntime runs like PyTorch."""
import json

import pytest
import torch

from conftest import build_tiny_model
from ptune.config import PTuningConfig
from ptune.engine.model import PTuningModel
from ptune.tasks import TokenClassificationConfig
from helpers import ptune_here, train_here

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("injection, task", [("input", None), ("deep", TokenClassificationConfig())],
                         ids=["input-classification", "deep-token-classification"])
def test_exported_graph_matches_pytorch_on_other_shapes(tiny_bert, tiny_backbone_dir, tmp_path, injection, task):
    from ptune.inference.export import export_onnx

    backbone, tokenizer = tiny_bert
    options = {"task": task} if task else {}
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=3, injection=injection, **options), num_labels=3)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.normal_()
    model.save_pretrained(tmp_path / "adapter", label_names=["a", "b", "c"], backbone_name=str(tiny_backbone_dir))
    result = export_onnx(tmp_path / "adapter", tmp_path / "onnx")
    assert result["max_abs_logit_difference"] < 1e-4
    meta = json.loads((tmp_path / "onnx" / "ptune_export.json").read_text())
    assert meta["label_names"] == ["a", "b", "c"] and (tmp_path / "onnx" / "tokenizer.json").exists()
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    batch = tokenizer(["the food was great and the staff were kind", "bad"], padding=True, return_tensors="pt")
    feeds = {k: batch[k].numpy() for k in ("input_ids", "attention_mask", "token_type_ids")}
    loaded = PTuningModel.from_pretrained(tmp_path / "adapter", backbone=build_tiny_model("bert"), tokenizer=tokenizer,
                                          allow_backbone_mismatch=True)
    with torch.no_grad():
        expected = loaded(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    keep = batch["attention_mask"].bool().numpy()
    found = session.run(None, feeds)[0]
    difference = abs(found - expected)[keep] if expected.ndim == 3 else abs(found - expected)
    assert difference.max() < 1e-4


def test_export_command_never_overwrites_silently(tiny_backbone_dir, tmp_path):
    assert train_here(tiny_backbone_dir, tmp_path / "adapter", "--epochs", "1").returncode == 0
    first = ptune_here("export", "--adapter", tmp_path / "adapter", "--output", tmp_path / "onnx")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "largest |logit difference| against PyTorch" in first.stdout
    again = ptune_here("export", "--adapter", tmp_path / "adapter", "--output", tmp_path / "onnx")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    into_adapter = ptune_here("export", "--adapter", tmp_path / "adapter", "--output", tmp_path / "adapter")
    assert into_adapter.returncode == 2 and "holds an adapter" in into_adapter.stderr


@pytest.mark.parametrize("model_type", ["deberta-v2", "modernbert"])
def test_deep_prompts_export_on_the_families_with_their_own_attention_or_positions(model_type, tmp_path):
    """DeBERTa's hook (MPNet's works the same way) and ModernBERT's position-counted windows: one ONNX
    graph each, equal to PyTorch on shapes it was not traced with (about 20 s an export here)."""
    from conftest import build_tokenizer
    from family_configs import family_model
    from ptune.engine.backbone import load_backbone
    from ptune.inference.export import export_onnx

    tokenizer = build_tokenizer(tmp_path)
    tokenizer.save_pretrained(tmp_path / "backbone")
    family_model(model_type, vocab_size=len(tokenizer)).save_pretrained(tmp_path / "backbone")
    model = PTuningModel(load_backbone(str(tmp_path / "backbone"))[0],
                         PTuningConfig(num_virtual_tokens=3, injection="deep"), num_labels=3)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.normal_()
    model.save_pretrained(tmp_path / "adapter", label_names=["a", "b", "c"], backbone_name=str(tmp_path / "backbone"))
    assert export_onnx(tmp_path / "adapter", tmp_path / "onnx")["max_abs_logit_difference"] < 1e-4
