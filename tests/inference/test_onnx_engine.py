"""The ONNX engine: adapters exported against one backbone graph (`ptune export --backbone-graph`)
answer in mixed-task batches exactly as the PyTorch engine does, through the same bank, server,
predict and eval."""
import json
import shutil

import numpy as np
import pytest
import torch

from agreement import answers_agree
from conftest import KINDS, save_random_adapter
from helpers import ptune_here

pytest.importorskip("onnxruntime")

QA = {"question": "who lives in London", "context": "John lives in London with Mary and their two dogs"}
TEXTS = ["a gripping film", "the movie was dull and far too long", "great", "an honest , moving story of two friends"]
WORDS = "John lives in London with Mary"


def request_for(name: str, i: int):
    if name == "rte":
        return (TEXTS[i % 4], TEXTS[(i + 1) % 4])
    if name == "qa":
        return QA
    return WORDS if name in ("ner", "chunk", "tags-layer1") else TEXTS[i % 4]


@pytest.fixture(scope="module")
def exported(tiny_backbone_dir, tmp_path_factory):
    """Every adapter kind of conftest.KINDS, a QA adapter and a tagger that reads layer 1, each
    exported against one graph folder."""
    from ptune.config import PTuningConfig
    from ptune.engine.backbone import load_backbone
    from ptune.engine.model import PTuningModel
    from ptune.inference.graph_export import export_with_backbone_graph
    from ptune.tasks import TokenClassificationConfig

    backbone, _ = load_backbone(str(tiny_backbone_dir))
    root = tmp_path_factory.mktemp("onnx-engine")
    adapters = {name: save_random_adapter(backbone, tiny_backbone_dir, root / "adapters" / name, task=task,
                                          injection=injection, placement=placement, k=k, seed=i,
                                          inputs="pair" if name == "rte" else None)
                for i, (name, (task, injection, placement, k)) in enumerate(KINDS.items())}
    adapters["qa"] = save_random_adapter(backbone, tiny_backbone_dir, root / "adapters" / "qa", task="question_answering",
                                         injection="deep", placement="after_cls", k=3, seed=7)
    layered = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=2, injection="deep",
                                                   task=TokenClassificationConfig(layer=1)), num_labels=5, seed=8)
    with torch.no_grad():
        for p in layered.head.parameters():
            p.normal_(0.0, 1.0)
    from conftest import TAGS

    layered.save_pretrained(root / "adapters" / "tags-layer1", label_names=TAGS, backbone_name=str(tiny_backbone_dir))
    adapters["tags-layer1"] = root / "adapters" / "tags-layer1"
    exports, differences = {}, {}
    for name, folder in adapters.items():
        result = export_with_backbone_graph(folder, root / "exports" / name, root / "graph")
        exports[name], differences[name] = root / "exports" / name, result["max_abs_logit_difference"]
    return {"adapters": adapters, "exports": exports, "graph": root / "graph", "differences": differences}


def test_each_export_is_checked_against_pytorch_when_written(exported):
    assert set(exported["differences"]) == set(exported["adapters"])
    assert max(exported["differences"].values()) < 1e-4, exported["differences"]
    graph = json.loads((exported["graph"] / "ptune_graph.json").read_text())
    assert graph["placements"] == ["after_cls", "prefix"]  # the prefix adapters added their graph
    assert not (exported["exports"]["sst2"] / "model.onnx").exists()  # a table and a head, not a model copy
    assert sum(p.stat().st_size for p in exported["exports"]["sst2"].iterdir()) < 200_000


def test_a_mixed_batch_of_every_kind_and_task_equals_the_pytorch_engine(exported, tiny_backbone_dir):
    from ptune.engine.bank import AdapterBank
    from ptune.inference.onnx_bank import OnnxBank

    torch_bank = AdapterBank.from_adapters(exported["adapters"], model_name=str(tiny_backbone_dir), precision="fp32",
                                           device="cpu")
    onnx_bank = OnnxBank.from_exports(exported["exports"])
    names = list(exported["adapters"]) * 2
    names = names[::2] + names[1::2]  # tasks interleaved in the batch
    rows_torch, rows_onnx = [], []
    for i, name in enumerate(names):
        for bank, rows in ((torch_bank, rows_torch), (onnx_bank, rows_onnx)):
            entry = bank.get(name)
            rows.append((entry, bank.features(entry, bank.examples(entry, [request_for(name, i)]))[0]))
    expected, found = torch_bank.run(rows_torch), onnx_bank.run(rows_onnx)
    assert [tuple(f.shape) for f in found] == [tuple(e.shape) for e in expected]
    assert all(isinstance(f, np.ndarray) for f in found)  # no torch on the ONNX side
    assert max(float(np.abs(f - e.numpy()).max()) for f, e in zip(found, expected)) < 1e-4
    requests = [(name, request_for(name, i)) for i, name in enumerate(names)]
    for a, b in zip(onnx_bank.predict(requests, batch_size=5), torch_bank.predict(requests, batch_size=5)):
        assert answers_agree(a, b), (a, b)


def test_an_export_for_other_weights_or_a_missing_graph_is_refused(exported, tmp_path):
    from ptune.errors import ArtifactError
    from ptune.inference.onnx_bank import OnnxBank

    bank = OnnxBank(exported["graph"])
    other = tmp_path / "other"
    shutil.copytree(exported["exports"]["sst2"], other)
    config = json.loads((other / "ptune_export.json").read_text())
    config["backbone"]["fingerprint"] = "0" * 64
    (other / "ptune_export.json").write_text(json.dumps({**config, "backbone_graph": str(exported["graph"])}))
    with pytest.raises(ArtifactError, match="other backbone weights"):
        bank.add("other", other)
    (other / "prompt.npy").write_bytes(b"not an array")
    with pytest.raises(ArtifactError, match="prompt.npy"):
        bank.add("other", other)
    with pytest.raises(ArtifactError, match="an adapter folder, not an export.*--backbone-graph"):
        bank.add("other", exported["adapters"]["sst2"])
    assert "other" not in bank


def test_the_export_command_refuses_what_it_would_overwrite_or_mix(exported, tmp_path):
    adapter = exported["adapters"]["sst2"]
    again = ptune_here("export", "--adapter", adapter, "--output", exported["exports"]["sst2"], "--backbone-graph",
                       exported["graph"])
    assert again.returncode == 2 and "--overwrite" in again.stderr
    empty = ptune_here("export", "--adapter", adapter, "--output", tmp_path / "x", "--backbone-graph", "")
    assert empty.returncode == 2 and "--backbone-graph ''" in empty.stderr and not (tmp_path / "x").exists()
    same = ptune_here("export", "--adapter", adapter, "--output", tmp_path / "g", "--backbone-graph", tmp_path / "g")
    assert same.returncode == 2 and "one folder" in same.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    foreign = ptune_here("export", "--adapter", adapter, "--output", tmp_path / "e", "--backbone-graph", tmp_path / "busy")
    assert foreign.returncode == 2 and "not a backbone graph folder" in foreign.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_predict_and_eval_on_an_export_answer_every_task_like_the_adapter(exported, tiny_backbone_dir, tmp_path):
    from ptune.inference.evaluation import evaluate_adapter
    from ptune.inference.predictor import Predictor

    for name, item in (("sst2", "great"), ("ner", WORDS)):
        found = ptune_here("predict", "--adapter", exported["exports"][name], item)
        assert found.returncode == 0, found.stderr[-2000:]
        expected = Predictor(exported["adapters"][name], model_name=str(tiny_backbone_dir)).predict([item])[0]
        answer = json.loads(found.stdout)
        assert answers_agree({k: answer[k] for k in expected}, expected)
    asked = ptune_here("predict", "--adapter", exported["exports"]["qa"], "--question", QA["question"], "--context",
                       QA["context"])
    assert asked.returncode == 0, asked.stderr[-2000:]
    expected = Predictor(exported["adapters"]["qa"], model_name=str(tiny_backbone_dir)).predict([QA])[0]
    assert json.loads(asked.stdout)["answer"] == expected["answer"]
    data = tmp_path / "labelled.tsv"
    data.write_text("label\ttext\n" + "".join(f"{'abc'[i % 3]}\t{t}\n" for i, t in enumerate(TEXTS * 2)))
    onnx = evaluate_adapter(exported["exports"]["sst2"], data=str(data), split="dev")
    plain = evaluate_adapter(exported["adapters"]["sst2"], data=str(data), split="dev", model_name=str(tiny_backbone_dir))
    assert onnx["runtime"] == "onnx" and onnx["metrics"]["accuracy"] == plain["metrics"]["accuracy"]


def test_the_server_answers_from_the_graph_and_takes_exports_added_to_its_folder(exported, tmp_path):
    from fastapi.testclient import TestClient

    from ptune.inference.onnx_bank import OnnxBank
    from ptune.serve.app import create_app
    from ptune.serve.config import ServeConfig

    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copytree(exported["exports"]["sst2"], folder / "sst2")  # moved away from its graph: the bank's is used
    bank = OnnxBank(exported["graph"])
    settings = ServeConfig(runtime="onnx", adapter_dir=str(folder), poll_seconds=0.1, access_log=False)
    with TestClient(create_app(bank, settings)) as client:
        answer = client.post("/v1/predict", json={"task": "sst2", "inputs": ["great"]})
        assert answer.status_code == 200, answer.text
        reference = bank.predict([("sst2", "great")])[0]
        assert answers_agree(answer.json()["predictions"][0], reference)
        shutil.copytree(exported["exports"]["ner"], folder / "ner")
        import time

        deadline = time.time() + 20
        while "ner" not in bank and time.time() < deadline:
            time.sleep(0.1)
        tags = client.post("/v1/predict", json={"task": "ner", "inputs": [WORDS]})
        assert tags.status_code == 200 and "entities" in tags.json()["predictions"][0]
        assert {t["name"] for t in client.get("/v1/tasks").json()["tasks"]} == {"sst2", "ner"}


def test_int8_is_made_once_beside_the_graph_and_answers_in_the_same_shapes(exported):
    from ptune.inference.onnx_bank import OnnxBank

    pytest.importorskip("onnx")
    bank = OnnxBank.from_exports({"sst2": exported["exports"]["sst2"], "ner": exported["exports"]["ner"]},
                                 precision="int8")
    answers = bank.predict([("sst2", "great"), ("ner", WORDS)])
    assert set(answers[0]) == {"label", "probabilities"} and "entities" in answers[1]
    made = exported["graph"] / "backbone-after_cls.int8.onnx"
    assert made.is_file()
    stamp = made.stat().st_mtime_ns
    OnnxBank.from_exports({"sst2": exported["exports"]["sst2"]}, precision="int8").predict([("sst2", "dull")])
    assert made.stat().st_mtime_ns == stamp  # reused, not made again
    fp32 = OnnxBank.from_exports({"sst2": exported["exports"]["sst2"]}).predict([("sst2", "great")])[0]
    assert np.isclose(sum(fp32["probabilities"].values()), 1.0, atol=1e-5)


SERVE_WITHOUT_TORCH = """
import json, sys
from fastapi.testclient import TestClient
from ptune.inference.onnx_bank import OnnxBank
from ptune.serve.app import create_app
from ptune.serve.config import ServeConfig

bank = OnnxBank.from_exports(json.loads(sys.argv[1]))
with TestClient(create_app(bank, ServeConfig(runtime="onnx", access_log=False))) as client:
    answers = [client.post("/v1/predict", json=body).status_code for body in json.loads(sys.argv[2])]
    pages = [client.get(path).status_code for path in ("/healthz", "/v1/tasks", "/metrics", "/", "/docs", "/openapi.json")]
print(json.dumps({"answers": answers, "pages": pages,
                  "loaded": sorted(m for m in ("torch", "transformers", "sklearn", "seqeval", "scipy") if m in sys.modules)}))
"""


def serve_bodies() -> list[dict]:
    return [{"task": "sst2", "inputs": TEXTS}, {"task": "rte", "inputs": [list(request_for("rte", 0))]},
            {"task": "ner", "inputs": [WORDS]}, {"task": "qa", "inputs": [QA]}, {"task": "tags-layer1", "inputs": [WORDS]}]


def test_an_onnx_server_answers_every_task_without_importing_torch_or_scikit_learn(exported):
    """Where torch is installed too: the ONNX serving path never imports it, nor transformers, nor
    seqeval's scikit-learn, so a server starts in about a second."""
    import subprocess
    import sys

    exports = {name: str(exported["exports"][name]) for name in ("sst2", "rte", "ner", "qa", "tags-layer1")}
    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TORCH, json.dumps(exports), json.dumps(serve_bodies())],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"answers": [200] * 5, "pages": [200] * 6, "loaded": []}


@pytest.mark.parametrize("model_type", ["deberta-v2", "modernbert"])
def test_the_shared_graph_exports_on_the_families_with_their_own_attention_or_positions(model_type, tmp_path):
    """DeBERTa's attention hook and ModernBERT's position-counted windows, with per-row prompts as
    graph inputs: an input-level and a deep adapter on one graph, each equal to PyTorch."""
    from conftest import build_tokenizer
    from family_configs import family_model
    from ptune.config import PTuningConfig
    from ptune.engine.backbone import load_backbone
    from ptune.engine.model import PTuningModel
    from ptune.inference.graph_export import export_with_backbone_graph

    tokenizer = build_tokenizer(tmp_path)
    tokenizer.save_pretrained(tmp_path / "backbone")
    family_model(model_type, vocab_size=len(tokenizer)).save_pretrained(tmp_path / "backbone")
    backbone = load_backbone(str(tmp_path / "backbone"))[0]
    for name, injection in (("deep", "deep"), ("input", "input")):
        model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=3, injection=injection), num_labels=3)
        with torch.no_grad():
            for p in model.encoder.parameters():
                p.normal_()
        model.save_pretrained(tmp_path / name, label_names=["a", "b", "c"], backbone_name=str(tmp_path / "backbone"))
        result = export_with_backbone_graph(tmp_path / name, tmp_path / f"{name}-export", tmp_path / "graph")
        assert result["max_abs_logit_difference"] < 1e-4, (name, result)


def test_two_onnx_workers_answer_on_one_port(exported):
    """`--workers 2 --runtime onnx`: each worker opens the graph itself (no shared torch weights)."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ptune.cli", "serve", "--runtime", "onnx", "--workers", "2",
                               "--port", str(port), "--no-access-log", f"--adapter=ner={exported['exports']['ner']}",
                               f"--adapter=sst2={exported['exports']['sst2']}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen, deadline = set(), time.time() + 120
        while len(seen) < 2 and time.time() < deadline:
            assert server.poll() is None, server.stderr.read()[-3000:]
            try:  # a fresh connection each time: the kernel spreads them over the workers
                seen.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["worker"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert seen == {0, 1}
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"task": "ner", "inputs": [WORDS]}, timeout=30)
        assert answer.status_code == 200 and "entities" in answer.json()["predictions"][0]
    finally:
        server.terminate()
        server.wait(60)
