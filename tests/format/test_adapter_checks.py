"""One validator for what an adapter or export folder says: types and ranges of every field,
label names that are distinct strings, finite tensors, and no local path an adapter chose."""
import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file

from ptune.errors import ArtifactError
from ptune.engine.model import load_adapter
from ptune.format.artifacts import read_adapter_config
from ptune.format.exported import read_export_config


def edited(folder, change):
    path = folder / "ptune_config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    return folder


def set_in(*keys, value):
    def change(config):
        target = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


@pytest.mark.parametrize("keys, value, message", [
    (("task", "label_names"), [0, None], "every label name must be a non-empty string"),
    (("task", "label_names"), ["a", "a", "c"], "label names must be distinct"),
    (("task", "label_names"), "abc", "expected a non-empty list"),
    (("ptuning", "num_virtual_tokens"), "20", "num_virtual_tokens='20': expected a number, not str"),
    (("ptuning", "num_virtual_tokens"), True, "num_virtual_tokens=True: expected a number, not bool"),
    (("ptuning", "max_length"), [1], "expected a number, not list"),
    (("backbone", "fingerprint"), 7, "backbone.fingerprint: expected a string"),
    (("backbone", "hub_id"), "../../etc", "backbone.hub_id: expected a Hub repo id"),
])
def test_a_field_of_the_wrong_type_or_value_is_refused_at_load(random_adapters, tiny_backbone_dir, keys, value, message):
    folder = edited(random_adapters["topic"], set_in(*keys, value=value))
    with pytest.raises(ArtifactError, match=message) as refused:
        load_adapter(folder, model_name=str(tiny_backbone_dir))
    assert str(folder) in str(refused.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_an_adapter_whose_tensors_are_not_finite_is_refused(random_adapters, tiny_backbone_dir, bad):
    path = random_adapters["topic"] / "inference.safetensors"
    tensors = load_file(path)
    name = next(k for k in tensors if k.startswith("head.") and k.endswith("weight"))
    tensors[name][0, 0] = bad
    save_file(tensors, path)
    with pytest.raises(ArtifactError, match=f"{name} hold NaN or infinite values"):
        load_adapter(random_adapters["topic"], model_name=str(tiny_backbone_dir))


@pytest.mark.parametrize("name", ["/etc", "../../../../etc/passwd", "~/.ssh"])
def test_an_adapter_never_chooses_a_local_path_to_read(random_adapters, name, monkeypatch):
    from ptune.engine import backbone

    read = []
    monkeypatch.setattr(backbone, "load_backbone", lambda path: read.append(path))
    folder = edited(random_adapters["topic"], set_in("backbone", "name", value=name))
    with pytest.raises(ArtifactError, match="pass --model PATH"):
        load_adapter(folder)
    assert read == []


def test_a_backbone_the_user_named_before_and_hub_ids_load(random_adapters, tiny_backbone_dir):
    from ptune.format.artifacts import backbone_to_load

    config = read_adapter_config(random_adapters["topic"])  # trained (saved) on the tiny backbone: named by the user
    assert backbone_to_load(config["backbone"]) == str(tiny_backbone_dir)
    assert backbone_to_load({"name": "org/encoder", "hub_id": None}) == "org/encoder"
    assert backbone_to_load({"name": "bundled:all-MiniLM-L6-v2"}) == "bundled:all-MiniLM-L6-v2"
    model, _, _ = load_adapter(random_adapters["topic"])  # no --model needed
    assert model is not None


def fake_export(folder, tiny_backbone_dir, **fields):
    import shutil

    folder.mkdir()
    shutil.copy(tiny_backbone_dir / "tokenizer.json", folder / "tokenizer.json")
    (folder / "model.onnx").write_bytes(b"\x08\x07truncated")
    config = {"task": "classification", "label_names": ["a", "b"], "max_text_length": 32,
              "inputs": ["input_ids", "attention_mask", "token_type_ids"], **fields}
    (folder / "ptune_export.json").write_text(json.dumps(config))
    return folder


def test_a_damaged_export_is_one_line(tiny_backbone_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from ptune.inference.onnx_predictor import OnnxPredictor

    with pytest.raises(ArtifactError, match="model.onnx: damaged, ONNX Runtime cannot load it"):
        OnnxPredictor(fake_export(tmp_path / "truncated", tiny_backbone_dir))
    with pytest.raises(ArtifactError, match="label names must be distinct"):
        read_export_config(fake_export(tmp_path / "labels", tiny_backbone_dir, label_names=["a", "a"]))
    with pytest.raises(ArtifactError, match="max_text_length: expected a whole number"):
        read_export_config(fake_export(tmp_path / "length", tiny_backbone_dir, max_text_length="32"))


def test_a_refused_folder_under_adapter_dir_is_named_once_per_change(random_adapters, tiny_backbone_dir, tmp_path, caplog):
    import shutil

    from ptune.engine.bank import AdapterBank
    from ptune.serve.watcher import AdapterDirWatcher

    watched = tmp_path / "watched"
    shutil.copytree(random_adapters["topic"], watched / "bad")
    edited(watched / "bad", set_in("ptuning", "num_virtual_tokens", value="20"))
    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, model_name=str(tiny_backbone_dir))
    watcher = AdapterDirWatcher(bank, watched)
    caplog.set_level(logging.ERROR)
    for _ in range(5):
        watcher.scan()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and str(watched / "bad") in lines[0] and "num_virtual_tokens" in lines[0]
    assert "bad" not in bank.entries()
    edited(watched / "bad", set_in("ptuning", "num_virtual_tokens", value=True))  # changed, still wrong: said again
    watcher.scan()
    assert len(caplog.records) == 2


WRONG = [None, True, False, "20", "", "x" * 300, -1, 0, 10**30, 2.5, float("nan"), float("inf"), [], [1, "a"], {},
         {"nested": [None]}]


def leaves(tree, path=()):
    """Every path to a value in a JSON tree (lists indexed)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, (*path, key))
    elif isinstance(tree, list) and tree:
        for index, value in enumerate(tree):
            yield from leaves(value, (*path, index))
    else:
        yield path


def test_any_field_of_an_adapter_config_with_a_wrong_value_loads_or_is_refused_in_one_line(random_adapters,
                                                                                        tiny_backbone_dir, tmp_path):
    import os
    import shutil

    from hypothesis import HealthCheck, given, settings, strategies as st

    from ptune.errors import PtuneError

    source = random_adapters["chunk"]
    original = json.loads((source / "ptune_config.json").read_text())
    paths = sorted(leaves(original), key=str)
    budget = settings(max_examples=int(os.environ.get("PTUNE_FUZZ_EXAMPLES", "80")), deadline=None,
                      derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    outcomes = {"loaded": 0, "refused": 0}

    @budget
    @given(path=st.sampled_from(paths), value=st.sampled_from(WRONG))
    def check(path, value):
        folder = tmp_path / "case"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder)
        config = json.loads(json.dumps(original))
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        (folder / "ptune_config.json").write_text(json.dumps(config))
        try:
            load_adapter(folder, model_name=str(tiny_backbone_dir))
            outcomes["loaded"] += 1
        except PtuneError as err:
            assert "\n" not in str(err).strip() or "invalid" in str(err), str(err)
            outcomes["refused"] += 1

    check()
    assert outcomes["refused"] > 0
