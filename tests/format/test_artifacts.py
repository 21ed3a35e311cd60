import json

import pytest
import torch

from ptune.engine.model import load_adapter, save_adapter
from ptune.format.artifacts import CONFIG_FILE, ENCODER_FILE, INFERENCE_FILE
from ptune.config import PTuningConfig
from ptune.encoders import ENCODERS
from ptune.errors import ArtifactError
from ptune.engine.model import PTuningModel


def trained_model(backbone, tokenizer, encoder="mlp"):
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=3, injection="input", encoder=ENCODERS[encoder][0]()), num_labels=2)
    optimizer = torch.optim.AdamW([p for g in model.trainable_parameters().values() for p in g], lr=1e-2)
    enc = tokenizer(["great food", "awful"], padding=True, return_tensors="pt")
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(**enc), torch.tensor([1, 0]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval(), enc


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_save_load_gives_identical_predictions(tiny_bert, tiny_backbone_dir, tmp_path, encoder):
    backbone, tokenizer = tiny_bert
    model, enc = trained_model(backbone, tokenizer, encoder)
    with torch.no_grad():
        expected = model(**enc)
    save_adapter(model, tmp_path / "a", label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    loaded, _, config = load_adapter(tmp_path / "a")
    assert loaded.encoder is None and loaded.uses_prompt_table  # inference never runs the encoder
    with torch.no_grad():
        torch.testing.assert_close(loaded(**enc), expected)
    assert config["task"]["label_names"] == ["neg", "pos"]
    assert config["backbone"]["fingerprint"].startswith("sha256:")
    assert {"torch", "transformers", "ptune"} <= set(config["versions"])


def test_encoder_weights_are_saved_for_resuming(tiny_bert, tiny_backbone_dir, tmp_path):
    backbone, tokenizer = tiny_bert
    model, _ = trained_model(backbone, tokenizer)
    save_adapter(model, tmp_path / "a", label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    again, _, _ = load_adapter(tmp_path / "a", with_encoder=True)
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(again.encoder.state_dict()[name], tensor)


def test_inference_file_is_small_and_no_temp_files_remain(tiny_bert, tiny_backbone_dir, tmp_path):
    backbone, tokenizer = tiny_bert
    model, _ = trained_model(backbone, tokenizer)
    save_adapter(model, tmp_path / "a", label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([CONFIG_FILE, ENCODER_FILE, INFERENCE_FILE])
    assert (tmp_path / "a" / INFERENCE_FILE).stat().st_size < 2_000


def test_fingerprint_mismatch_is_refused_unless_allowed(tiny_bert, tiny_backbone_dir, tmp_path):
    backbone, tokenizer = tiny_bert
    model, _ = trained_model(backbone, tokenizer)
    save_adapter(model, tmp_path / "a", label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    from ptune.engine.backbone import load_backbone

    other, other_tokenizer = load_backbone(str(tiny_backbone_dir))
    with torch.no_grad():
        other.encoder.layer[0].output.dense.weight.add_(0.01)
    with pytest.raises(ArtifactError, match="allow-backbone-mismatch"):
        load_adapter(tmp_path / "a", backbone=other, tokenizer=other_tokenizer)
    loaded, _, _ = load_adapter(tmp_path / "a", backbone=other, tokenizer=other_tokenizer, allow_backbone_mismatch=True)
    assert loaded.uses_prompt_table


def test_existing_adapter_is_never_overwritten_silently(tiny_bert, tiny_backbone_dir, tmp_path):
    backbone, tokenizer = tiny_bert
    model, _ = trained_model(backbone, tokenizer)
    save_adapter(model, tmp_path / "a", label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    before = (tmp_path / "a" / INFERENCE_FILE).read_bytes()
    with pytest.raises(ArtifactError, match="overwrite"):
        save_adapter(model, tmp_path / "a", label_names=["x", "y"], backbone_name=None)
    assert (tmp_path / "a" / INFERENCE_FILE).read_bytes() == before
    save_adapter(model, tmp_path / "a", label_names=["x", "y"], backbone_name=str(tiny_backbone_dir), overwrite=True)
    assert json.loads((tmp_path / "a" / CONFIG_FILE).read_text())["task"]["label_names"] == ["x", "y"]


def test_missing_folder_says_what_it_expected(tmp_path):
    with pytest.raises(ArtifactError, match="ptune_config.json is missing"):
        load_adapter(tmp_path)


def saved_adapter(tiny_bert, tiny_backbone_dir, folder):
    backbone, tokenizer = tiny_bert
    model, enc = trained_model(backbone, tokenizer)
    save_adapter(model, folder, label_names=["neg", "pos"], backbone_name=str(tiny_backbone_dir))
    with torch.no_grad():
        return model(**enc), enc


def test_adapters_of_format_1_load_unchanged(tiny_bert, tiny_backbone_dir, tmp_path):
    """ptune 0.1 wrote format 1: classification only, head settings at the top of `ptuning`."""
    expected, enc = saved_adapter(tiny_bert, tiny_backbone_dir, tmp_path / "a")
    config = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    task = config["ptuning"].pop("task")
    config["ptuning"].pop("injection")
    config["ptuning"].update(pooling=task["pooling"], head_dropout=task["head_dropout"])
    config.update(format_version=1, task={"type": "sequence_classification", "label_names": ["neg", "pos"]})
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps(config))
    loaded, _, _ = load_adapter(tmp_path / "a")
    assert loaded.config.task.name == "classification" and loaded.config.injection == "input"
    with torch.no_grad():
        torch.testing.assert_close(loaded(**enc), expected)


def edit_config(folder, change):
    config = json.loads((folder / CONFIG_FILE).read_text())
    change(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / INFERENCE_FILE).write_bytes((f / INFERENCE_FILE).read_bytes()[:40]), "not a readable safetensors"),
    (lambda f: (f / INFERENCE_FILE).write_bytes(b""), "not a readable safetensors"),
    (lambda f: (f / INFERENCE_FILE).unlink(), "inference.safetensors is missing"),
    (lambda f: (f / CONFIG_FILE).write_text('{"format_version": 2, "task"'), "not valid JSON"),
    (lambda f: (f / CONFIG_FILE).write_text('{"format_version": 2}'), "missing"),
    (lambda f: edit_config(f, lambda c: c["task"].update(label_names=["a", "b", "c"])), "head.out.weight has shape"),
    (lambda f: edit_config(f, lambda c: c["ptuning"].update(num_virtual_tokens=7)), "prompt_table has shape"),
    (lambda f: edit_config(f, lambda c: c["ptuning"].update(injection="sideways")), "damaged ptuning settings"),
    (lambda f: edit_config(f, lambda c: c.update(format_version=99)), "format_version 99"),
], ids=["truncated", "empty", "missing-tensors", "invalid-json", "incomplete-json", "label-count", "token-count",
        "bad-setting", "future-format"])
def test_a_damaged_adapter_is_one_clear_error(tiny_bert, tiny_backbone_dir, tmp_path, damage, message):
    saved_adapter(tiny_bert, tiny_backbone_dir, tmp_path / "a")
    damage(tmp_path / "a")
    with pytest.raises(ArtifactError, match=message):
        load_adapter(tmp_path / "a", backbone=tiny_bert[0], tokenizer=tiny_bert[1])


def test_a_backbone_of_another_width_is_refused_even_when_mismatch_is_allowed(tiny_bert, tiny_backbone_dir, tmp_path):
    from transformers import AutoModel, BertConfig

    saved_adapter(tiny_bert, tiny_backbone_dir, tmp_path / "a")
    wider = AutoModel.from_config(BertConfig(vocab_size=935, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=37, max_position_embeddings=64))
    with pytest.raises(ArtifactError, match="hidden size 48"):
        load_adapter(tmp_path / "a", backbone=wider, tokenizer=tiny_bert[1], allow_backbone_mismatch=True)
