import pytest
import json

from conftest import DEMO
from helpers import ptune_here as ptune

pytestmark = pytest.mark.slow  # end to end: run by `make test`, left out by `-m "not slow"`


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
        assert 0 < row["text_efficiency"] < row["efficiency"] < 1  # virtual tokens count in the wider one
        # padding is measured, not counted as work: random batches pad more than grouped ones
        assert row["mean_padded_text_tokens"] >= row["mean_text_tokens"] > 0
    grouped, peft = report["rows"][0], report["rows"][-1]
    assert peft["mean_padded_text_tokens"] > grouped["mean_padded_text_tokens"]
    assert peft["eval_samples_per_s_sorted_batches"] > 0 and report["eval_rounds"] == 3


def test_bench_inference_reports_each_option_against_fp32(tiny_run, tmp_path_factory):
    from conftest import copy_of_tiny_run
    from ptune.lab.speed import bench_inference

    adapter = copy_of_tiny_run(tiny_run, tmp_path_factory, "bench-inference")
    result = bench_inference(str(adapter), data=str(DEMO), rounds=2, log=lambda m: None,
                             variants=("bf16", "int8 dynamic (backbone Linear)", "onnxruntime (fp32)"))
    rows = {r["label"]: r for r in result["rows"]}
    onnx = rows["onnxruntime (fp32)"]
    assert onnx["agreement_with_fp32"] == 1.0 and onnx["samples_per_s"] > 0
    assert rows["fp32"]["agreement_with_fp32"] == 1.0 and rows["fp32"]["speedup_vs_fp32"] == 1.0
    int8 = rows["int8 dynamic (backbone Linear)"]
    assert int8["agreement_with_fp32"] >= 0.9 and len(int8["seconds"]) == 2 and int8["samples_per_s"] > 0
    assert result["examples"] == 60


def test_gpu_speed_script_runs_end_to_end_on_tiny_models_of_both_families(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_speed.py"), "--tiny", "--train-size", "32",
                             "--data", str(DEMO), "--output", str(tmp_path / "gpu.json")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "| ptune | bf16 | grouped |" in result.stdout or "| ptune | fp32 | grouped |" in result.stdout
    assert "tiny DeBERTa-v3-base shapes (deberta-v2)" in result.stdout
    report = json.loads((tmp_path / "gpu.json").read_text())
    rows = {(r["family"], r["method"]): r for r in report["rows"]}
    assert len(rows) == 10 and all(rows[(f, "ptune")]["train_samples_per_s"] > 0 for f in ("bert", "deberta-v2"))
    assert rows[("deberta-v2", "peft-lora[precision=bf16]")]["train_samples_per_s"] > 0  # DeBERTa's own names
    # PEFT's prefix tuning cannot reach DeBERTa's attention; the row says so instead of a number
    assert "past_key_values" in rows[("deberta-v2", "peft-prefix[precision=bf16]")]["error"]
