import json

from conftest import DEMO
from test_training import ptune


def test_bench_speed_compares_ptune_and_peft_side_by_side(tiny_backbone_dir, tmp_path):
    result = ptune("bench", "speed", "--model", tiny_backbone_dir, "--data", DEMO, "--train-samples", "64",
                   "--json", tmp_path / "speed.json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "speed.json").read_text())
    labels = [row["label"] for row in report["rows"]]
    assert labels[0].startswith("ptune fp32") and labels[-1].startswith("PEFT")
    assert report["ceiling_gflops_per_s"]["fp32"] > 0 and report["train_samples"] == 64
    for row in report["rows"]:
        assert row["train_samples_per_s"] > 0 and row["eval_samples_per_s"] > 0
        assert 0 < row["efficiency"] < 1
