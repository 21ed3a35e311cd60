"""Sharing adapters: model cards, loading by Hub repo id from the cache (offline), pushing (faked),
and backbones recorded by their Hub id."""
import json
import shutil

import pytest
import torch

from ptune.engine.model import load_adapter
from ptune.format.artifacts import backbone_to_load
from ptune.format.trusted_backbones import remember
from ptune.errors import ArtifactError
from ptune.format.hub import push_to_hub
from ptune.format.hub_ids import BUNDLED_HUB_ID, backbone_hub_id
from conftest import copy_of_tiny_run
from helpers import ptune


@pytest.fixture(scope="module")
def trained(tiny_run, tmp_path_factory):
    return copy_of_tiny_run(tiny_run, tmp_path_factory, "hub")


def test_training_writes_a_model_card_with_scores_and_the_command(trained):
    card = (trained / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: ptune\n") and "classification" in card
    best = json.loads((trained / "metrics.json").read_text())["best_dev"]["accuracy"]
    assert f"| dev accuracy (best checkpoint) | {best:.4f} |" in card
    assert "ptune train --model" in card and "--num-virtual-tokens 4" in card
    assert "from ptune import Predictor" in card


def fill_hub_cache(cache, repo_id: str, folder) -> None:
    """What a download leaves in the Hub cache: a snapshot folder named by commit, and refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit, ignore=shutil.ignore_patterns("checkpoints", "*.jsonl",
                                                                                          "metrics.json", "run_config.json"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_an_adapter_loads_by_repo_id_from_the_cache_offline(trained, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    fill_hub_cache(tmp_path, "someone/tiny-sentiment", trained)
    from_hub, _, config = load_adapter("someone/tiny-sentiment")
    local, _, _ = load_adapter(trained)
    ids = torch.randint(5, 60, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(from_hub(ids, torch.ones_like(ids)), local(ids, torch.ones_like(ids)))
    with pytest.raises(ArtifactError, match="neither an adapter folder here nor a Hub repo"):
        load_adapter("someone/not-downloaded")


def test_predict_takes_a_repo_id(trained, tmp_path):
    cache = tmp_path / "cache"
    fill_hub_cache(cache, "someone/tiny-sentiment", trained)
    result = ptune("predict", "--adapter", "someone/tiny-sentiment", "great food",
                   env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["label"] in ("negative", "positive")


def test_push_uploads_the_adapter_files_with_a_card(trained, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            calls.append(("create", repo_id, private, exist_ok))
            return f"hub:{repo_id}"

        def upload_folder(self, repo_id, folder_path, allow_patterns, commit_message):
            calls.append(("upload", repo_id, sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()
                                                    if p.name in allow_patterns)))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = tmp_path / "copy"
    shutil.copytree(trained, folder)
    (folder / "README.md").unlink()
    assert push_to_hub(folder, "me/sentiment", private=True) == "hub:me/sentiment"
    assert calls == [("create", "me/sentiment", True, True),
                     ("upload", "me/sentiment", ["README.md", "inference.safetensors", "prompt_encoder.safetensors",
                                                 "ptune_config.json"])]
    with pytest.raises(ArtifactError, match="not a ptune adapter"):
        push_to_hub(tmp_path, "me/nothing")


def test_backbones_are_recorded_by_hub_id_where_they_have_one(tmp_path):
    snapshot = tmp_path / "models--org--encoder" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    assert backbone_hub_id(None) == BUNDLED_HUB_ID
    assert backbone_hub_id("bert-base-uncased") == "bert-base-uncased"
    assert backbone_hub_id(str(snapshot)) == "org/encoder"
    assert backbone_hub_id(str(tmp_path)) is None
    assert backbone_to_load({"name": "/machine/elsewhere/model", "hub_id": "org/encoder"}) == "org/encoder"
    remember(tmp_path)  # a folder the user gave to --model before
    assert backbone_to_load({"name": str(tmp_path), "hub_id": None}) == str(tmp_path)


def test_save_pretrained_and_from_pretrained_round_trip(tiny_bert, tmp_path):
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel

    backbone, tokenizer = tiny_bert
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=3), num_labels=2).eval()
    folder = model.save_pretrained(tmp_path / "a", label_names=["neg", "pos"])
    assert (folder / "README.md").exists()
    again = PTuningModel.from_pretrained(folder, backbone=backbone, tokenizer=tokenizer)
    ids = torch.randint(5, 60, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(again(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)))
