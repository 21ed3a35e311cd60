"""`ptune serve --runtime onnx` in a clean virtual environment that has neither torch nor
transformers: the serving install of the README (ptune without its dependencies, then the
serve-onnx extra's packages)."""
import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from conftest import KINDS, ROOT, save_random_adapter
from test_packaging import OURS, build, clean_venv, run

pytestmark = pytest.mark.slow  # a wheel built and installed: run by `make test`, left out by `-m "not slow"`
pytest.importorskip("onnxruntime")

TORCH = ("torch", "functorch", "torchgen", "nvidia", "triton", "transformers", "accelerate", "sklearn", "scikit_learn",
         "seqeval")


def without_torch(folder: Path) -> Path:
    """This environment's installed packages minus ptune, torch (and what only torch uses),
    transformers, accelerate, scikit-learn and seqeval."""
    folder.mkdir()
    for item in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not item.name.startswith(OURS + TORCH) and item.suffix != ".pth":
            (folder / item.name).symlink_to(item)
    return folder


def test_a_venv_without_torch_serves_exports_of_every_input_form(tiny_backbone_dir, tmp_path):
    from ptune.engine.backbone import load_backbone
    from ptune.inference.graph_export import export_with_backbone_graph

    backbone, _ = load_backbone(str(tiny_backbone_dir))
    exports = {}
    for i, name in enumerate(("sst2", "rte", "ner")):
        task, injection, placement, k = KINDS[name]
        adapter = save_random_adapter(backbone, tiny_backbone_dir, tmp_path / "adapters" / name, task=task,
                                      injection=injection, placement=placement, k=k, seed=i,
                                      inputs="pair" if name == "rte" else None)
        export_with_backbone_graph(adapter, tmp_path / "exports" / name, tmp_path / "exports" / "graph")
        exports[name] = tmp_path / "exports" / name
    python = clean_venv(tmp_path / "venv", without_torch(tmp_path / "deps"))
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1"}
    wheel = build("wheel", ROOT, tmp_path / "dist")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel, env=env)
    for absent in ("torch", "transformers", "sklearn", "seqeval"):
        assert subprocess.run([python, "-c", f"import {absent}"], capture_output=True, env=env).returncode != 0, absent

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [tmp_path / "venv" / "bin" / "ptune", "serve", "--runtime", "onnx", "--port", str(port), "--no-access-log",
               *[f"--adapter={name}={path}" for name, path in exports.items()]]
    server = subprocess.Popen([str(c) for c in command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        import httpx

        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, server.stderr.read()[-3000:] if server.poll() else "slow"
            time.sleep(0.2)
        bodies = [{"task": "sst2", "inputs": ["a gripping film", "dull"]},
                  {"task": "rte", "inputs": [["a man sleeps", "a person rests"]]},
                  {"task": "ner", "inputs": ["John lives in London"]}]
        answers = [httpx.post(f"{url}/v1/predict", json=body, timeout=60) for body in bodies]
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        assert "entities" in answers[2].json()["predictions"][0]
        assert {t["name"] for t in httpx.get(f"{url}/v1/tasks").json()["tasks"]} == set(exports)
        for path in ("/metrics", "/", "/docs"):
            assert httpx.get(url + path).status_code == 200, path
    finally:
        server.terminate()
        server.wait(60)
    assert json.loads((exports["sst2"] / "ptune_export.json").read_text())["layout"] == "shared"
