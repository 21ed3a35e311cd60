"""`ptune serve` through the ASGI test client: every endpoint, every class of bad request, mixed
concurrent load, the queue limit, hot add and remove, fingerprint refusal, graceful drain."""
import contextlib
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from fastapi.testclient import TestClient

from conftest import build_tiny_model, save_random_adapter
from ptune.engine.bank import AdapterBank
from ptune.serve.app import create_app
from agreement import answers_agree
from ptune.serve.batcher import MicroBatcher
from ptune.serve.config import ServeConfig

TEXTS = ["a gripping film", "the movie was dull and far too long", "great", "John lives in London with Mary",
         "an honest , moving story of two friends"]


def request_for(name: str, i: int) -> dict:
    texts = [TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)]
    return {"task": name, "inputs": [[t, TEXTS[0]] for t in texts] if name == "rte" else texts}


@pytest.fixture()
def bank(random_adapters, tiny_backbone_dir):
    return AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))


def serving(bank, **settings):
    return TestClient(create_app(bank, ServeConfig(**settings)))


def expected(bank, payload) -> list[dict]:
    return bank.predict([(payload["task"], tuple(x) if isinstance(x, list) else x) for x in payload["inputs"]])


def test_predict_tasks_health_and_metrics(bank):
    with serving(bank) as client:
        tasks = {t["name"]: t for t in client.get("/v1/tasks").json()["tasks"]}
        assert set(tasks) == {"sst2", "rte", "ner", "chunk", "topic"}
        assert tasks["rte"]["input"] == "pair" and tasks["ner"]["input"] == "words" and tasks["sst2"]["input"] == "text"
        assert tasks["ner"]["labels"][0] == "O" and tasks["ner"]["task"] == "token_classification"
        for name in tasks:
            payload = request_for(name, 2)
            answer = client.post("/v1/predict", json=payload)
            assert answer.status_code == 200, answer.text
            assert answer.json()["task"] == name
            assert answers_agree(answer.json()["predictions"], expected(bank, payload))
        entities = client.post("/v1/predict", json={"task": "ner", "inputs": ["John lives in London"]}).json()
        for entity in entities["predictions"][0]["entities"]:
            assert "John lives in London"[entity["start"]:entity["end"]] == entity["text"]
        assert client.get("/healthz").json() == {"status": "ok", "tasks": 5, "queue_depth": 0}
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert 'ptune_requests_total{task="sst2"} 1.0' in text and 'ptune_inputs_total{task="rte"} 3.0' in text
        assert "ptune_request_latency_seconds_bucket" in text and "ptune_batch_size_count" in text
        assert "ptune_queue_depth 0.0" in text and "ptune_tasks_loaded 5.0" in text


BAD_REQUESTS = [
    # (description, how to send it, status, error kind)
    ("unknown task", dict(json={"task": "nope", "inputs": ["x"]}), 404, "unknown_task"),
    ("task not a string", dict(json={"task": 3, "inputs": ["x"]}), 422, "invalid_request"),
    ("missing inputs", dict(json={"task": "sst2"}), 422, "invalid_request"),
    ("inputs not a list", dict(json={"task": "sst2", "inputs": "great"}), 422, "invalid_request"),
    ("no inputs", dict(json={"task": "sst2", "inputs": []}), 422, "invalid_request"),
    ("unknown field", dict(json={"task": "sst2", "inputs": ["x"], "top_k": 3}), 422, "invalid_request"),
    ("body not an object", dict(json=["sst2", "great"]), 422, "invalid_request"),
    ("pair for a text task", dict(json={"task": "sst2", "inputs": [["a", "b"]]}), 422, "wrong_input_form"),
    ("text for a pair task", dict(json={"task": "rte", "inputs": ["a"]}), 422, "wrong_input_form"),
    ("three texts for a pair task", dict(json={"task": "rte", "inputs": [["a", "b", "c"]]}), 422, "wrong_input_form"),
    ("number as input", dict(json={"task": "sst2", "inputs": [42]}), 422, "wrong_input_form"),
    ("words list for ner", dict(json={"task": "ner", "inputs": [["John", "lives"]]}), 422, "wrong_input_form"),
    ("empty input", dict(json={"task": "sst2", "inputs": ["ok", ""]}), 422, "empty_input"),
    ("whitespace input", dict(json={"task": "ner", "inputs": ["  \n\t"]}), 422, "empty_input"),
    ("empty pair half", dict(json={"task": "rte", "inputs": [["a", " "]]}), 422, "empty_input"),
    ("input too long", dict(json={"task": "sst2", "inputs": ["x" * 201]}), 413, "input_too_long"),
    ("too many inputs", dict(json={"task": "sst2", "inputs": ["x"] * 9}), 413, "too_many_inputs"),
    ("invalid JSON", dict(content=b'{"task": "sst2", "inputs": [', headers={"content-type": "application/json"}),
     400, "invalid_json"),
    ("not UTF-8", dict(content=b'{"task": "\xff"}', headers={"content-type": "application/json"}), 400, "invalid_json"),
    ("wrong content type", dict(content=b'{"task": "sst2", "inputs": ["x"]}', headers={"content-type": "text/plain"}),
     415, "unsupported_media_type"),
    ("no content type", dict(content=b'{"task": "sst2", "inputs": ["x"]}'), 415, "unsupported_media_type"),
    ("a lone surrogate", dict(content=b'{"task": "sst2", "inputs": ["ok \\ud800"]}',
                              headers={"content-type": "application/json"}), 422, "invalid_text"),
    ("a lone surrogate in a pair", dict(content=b'{"task": "rte", "inputs": [["a", "\\udfff b"]]}',
                                        headers={"content-type": "application/json"}), 422, "invalid_text"),
    ("body too large", dict(content=b'{"task": "sst2", "inputs": ["' + b"x" * 3000 + b'"]}',
                            headers={"content-type": "application/json"}), 413, "body_too_large"),
]


@pytest.mark.parametrize("description, send, status, kind", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_every_bad_request_is_a_clear_4xx(bank, description, send, status, kind):
    with serving(bank, max_inputs_per_request=8, max_chars_per_input=200, max_body_bytes=2000, max_queue=64) as client:
        answer = client.post("/v1/predict", **send)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error["kind"] == kind and len(error["message"]) > 15
        # The server is unharmed: a good request right after is answered.
        assert client.post("/v1/predict", json={"task": "sst2", "inputs": ["great"]}).status_code == 200
        assert f'ptune_errors_total{{kind="{kind}"}} 1.0' in client.get("/metrics").text


@pytest.mark.parametrize("body", [b"[" * 10_000 + b"]" * 10_000, b'{"task": "sst2", "inputs": [' + b"9" * 5000 + b"]}",
                                  b'{"a": ' * 5000 + b"1" + b"}" * 5000], ids=["10k-deep-list", "5000-digits", "5k-deep-object"])
def test_json_the_parser_cannot_take_is_a_400_at_the_default_limits(bank, body):
    with serving(bank) as client:
        answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"]["kind"] == "invalid_json"
        assert 'ptune_errors_total{kind="invalid_json"} 1.0' in client.get("/metrics").text


def test_unknown_endpoints_and_methods_are_json_errors(bank):
    with serving(bank) as client:
        assert client.get("/v2/predict").json()["error"]["kind"] == "not_found"
        answer = client.get("/v1/predict")
        assert answer.status_code == 405 and answer.json()["error"]["kind"] == "method_not_allowed"
        assert client.head("/healthz").status_code == 200  # load balancers and uptime checks send HEAD


def test_an_unforeseen_failure_is_a_counted_json_500(bank, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("something nobody foresaw")

    monkeypatch.setattr(bank, "examples", broken)
    with TestClient(create_app(bank, ServeConfig()), raise_server_exceptions=False) as client:
        answer = client.post("/v1/predict", json={"task": "sst2", "inputs": ["great"]})
        assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["kind"] == "internal"
        assert 'ptune_errors_total{kind="internal"} 1.0' in client.get("/metrics").text


def test_fifty_concurrent_mixed_requests_are_all_answered_correctly(bank):
    names = ["sst2", "rte", "ner", "chunk", "topic"]
    payloads = [request_for(names[i % 5], i) for i in range(50)]
    with serving(bank, max_batch_size=16, max_wait_ms=20) as client:
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda p: client.post("/v1/predict", json=p), payloads))
        metrics = client.get("/metrics").text
    for payload, answer in zip(payloads, answers):
        assert answer.status_code == 200, answer.text
        assert answers_agree(answer.json()["predictions"], expected(bank, payload))
    # Requests were batched together: fewer forwards than requests, some mixing tasks.
    forwards = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("ptune_batch_size_count")))
    assert forwards < 50
    assert "ptune_batch_tasks_bucket{le=\"1.0\"}" in metrics


def test_a_full_queue_answers_503_with_retry_after(bank, monkeypatch):
    release, started = threading.Event(), threading.Event()
    run = bank.run

    def slow_run(rows):
        started.set()
        release.wait(10)
        return run(rows)

    monkeypatch.setattr(bank, "run", slow_run)
    with serving(bank, max_queue=4, max_inputs_per_request=4, max_wait_ms=0) as client:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(client.post, "/v1/predict", json={"task": "sst2", "inputs": ["a"] * 4})
            assert started.wait(10)  # the first request is in the (stalled) forward
            second = pool.submit(client.post, "/v1/predict", json={"task": "sst2", "inputs": ["b"] * 4})
            deadline = time.time() + 10
            while client.get("/healthz").json()["queue_depth"] < 4 and time.time() < deadline:
                time.sleep(0.01)
            full = client.post("/v1/predict", json={"task": "ner", "inputs": ["John"]})
            release.set()
            assert first.result().status_code == 200 and second.result().status_code == 200
    assert full.status_code == 503 and full.headers["retry-after"] == "1"
    assert full.json()["error"]["kind"] == "queue_full"
    assert "(4 inputs waiting; with this request's 1 it would pass its limit of 4)" in full.json()["error"]["message"]


def test_adapters_are_added_and_removed_while_serving_under_load(random_adapters, tiny_backbone_dir, tmp_path, caplog):
    caplog.set_level("INFO", logger="ptune")
    live = tmp_path / "live"
    live.mkdir()
    shutil.copytree(random_adapters["ner"], live / "ner")
    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, model_name=str(tiny_backbone_dir))
    statuses: dict[str, list[int]] = {"sst2": [], "ner": [], "topic": []}
    stop = threading.Event()
    with serving(bank, adapter_dir=str(live), poll_seconds=0.05) as client:
        assert {t["name"] for t in client.get("/v1/tasks").json()["tasks"]} == {"sst2", "ner"}

        def load(name):
            while not stop.is_set():
                statuses[name].append(client.post("/v1/predict", json=request_for(name, 1)).status_code)

        with ThreadPoolExecutor(3) as pool:
            for name in statuses:
                pool.submit(load, name)
            time.sleep(0.3)
            shutil.copytree(random_adapters["topic"], live / "topic")  # hot add
            wait_for(lambda: "topic" in bank)
            time.sleep(0.3)
            shutil.rmtree(live / "ner")  # hot remove, with requests for it in flight
            wait_for(lambda: "ner" not in bank)
            time.sleep(0.3)
            stop.set()
        assert {t["name"] for t in client.get("/v1/tasks").json()["tasks"]} == {"sst2", "topic"}
    assert statuses["sst2"] and set(statuses["sst2"]) == {200}
    assert 200 in statuses["topic"] and set(statuses["topic"]) <= {200, 404}
    first_404 = statuses["topic"].index(200)
    assert set(statuses["topic"][first_404:]) == {200}  # once added, never lost
    assert statuses["ner"][0] == 200 and set(statuses["ner"]) <= {200, 404}
    assert 500 not in statuses["ner"] and statuses["ner"][-1] == 404
    said = caplog.text  # every change of what is served is in the log
    assert "task 'ner' added" in said and "task 'topic' added" in said and "task 'ner' removed" in said


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_an_adapter_of_another_backbone_is_refused_at_hot_add(random_adapters, tiny_backbone_dir, tmp_path):
    other = build_tiny_model("bert")
    with torch.no_grad():
        other.embeddings.word_embeddings.weight.mul_(2)
    live = tmp_path / "live"
    live.mkdir()
    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, model_name=str(tiny_backbone_dir))
    with serving(bank, adapter_dir=str(live), poll_seconds=0.05) as client:
        save_random_adapter(other, tiny_backbone_dir, live / "foreign", task="classification", injection="deep",
                            placement="after_cls", k=3, seed=0)
        wait_for(lambda: 'ptune_errors_total{kind="adapter_load"} 1.0' in client.get("/metrics").text)
        assert "foreign" not in bank
        assert client.post("/v1/predict", json={"task": "foreign", "inputs": ["x"]}).status_code == 404


def test_serve_refuses_a_fingerprint_mismatch_at_start_up(random_adapters, tiny_backbone_dir, tmp_path, capsys):
    from ptune.cli import main

    other = build_tiny_model("bert")
    with torch.no_grad():
        other.embeddings.word_embeddings.weight.mul_(2)
    save_random_adapter(other, tiny_backbone_dir, tmp_path / "foreign", task="classification", injection="deep",
                        placement="after_cls", k=3, seed=0)
    code = main(["serve", "--adapter", f"sst2={random_adapters['sst2']}", "--adapter", f"foreign={tmp_path / 'foreign'}"])
    error = capsys.readouterr().err
    assert code == 2 and "adapter 'foreign'" in error and "weights" in error


def test_serve_flags_are_checked(capsys):
    from ptune.cli import main

    assert main(["serve"]) == 2 and "nothing to serve" in capsys.readouterr().err
    assert main(["serve", "--adapter", "sst2"]) == 2 and "NAME=DIR" in capsys.readouterr().err
    assert main(["serve", "--adapter", "a=x", "--max-batch-size", "0"]) == 2 and "max_batch_size" in capsys.readouterr().err


def test_stopping_finishes_every_queued_input(bank):
    batcher = MicroBatcher(bank, ServeConfig(max_batch_size=4, max_wait_ms=50))
    entry = bank.get("sst2")
    futures = [batcher.submit(entry, bank.features(entry, bank.examples(entry, [t]))) for t in TEXTS * 4]
    batcher.stop()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(Exception):
        batcher.submit(entry, bank.features(entry, bank.examples(entry, ["late"])))


@contextlib.contextmanager
def real_server(bank, **settings):
    """uvicorn in a thread on a free loopback port; yields the port."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(bank, ServeConfig(**settings)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_body_shorter_than_its_content_length_times_out_with_408(bank):
    import socket

    with real_server(bank, body_timeout_seconds=0.5) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"task\": ")
        started = time.monotonic()
        reply = sock.recv(65536).decode()
        while "body_timeout" not in reply and time.monotonic() - started < 5:  # the body may come in its own segment
            more = sock.recv(65536).decode()
            if not more:
                break
            reply += more
        assert time.monotonic() - started < 5
    assert reply.startswith("HTTP/1.1 408") and '"kind":"body_timeout"' in reply


def test_the_python_client_speaks_to_a_real_server(bank):
    """Over a real socket on loopback: uvicorn in a thread, the bundled client."""
    from ptune.serve.client import PtuneClient, ServeError

    with real_server(bank) as port:
        client = PtuneClient(f"http://127.0.0.1:{port}")
        assert client.health()["status"] == "ok"
        assert client.predict("sst2", ["great"]) == bank.predict([("sst2", "great")])
        assert {t["name"] for t in client.tasks()} == set(bank.entries())
        with pytest.raises(ServeError) as error:
            client.predict("nope", ["x"])
        assert error.value.status == 404 and error.value.kind == "unknown_task"


def test_answers_agree_on_decisions_and_tolerates_only_float_noise():
    a = {"label": "pos", "probabilities": {"neg": 0.1, "pos": 0.9}}
    assert answers_agree(a, {"label": "pos", "probabilities": {"neg": 0.10001, "pos": 0.89999}})
    assert not answers_agree(a, {"label": "neg", "probabilities": {"neg": 0.1, "pos": 0.9}})
    assert not answers_agree(a, {"label": "pos", "probabilities": {"neg": 0.2, "pos": 0.8}})
    assert not answers_agree({"entities": [{"start": 0, "end": 4}]}, {"entities": []})


def test_the_batch_size_is_sized_for_the_device():
    import torch

    assert ServeConfig().for_device(torch.device("cpu")).max_batch_size == 32
    assert ServeConfig().for_device(torch.device("cuda")).max_batch_size == 128
    assert ServeConfig(max_batch_size=8).for_device(torch.device("cuda")).max_batch_size == 8
    with pytest.raises(Exception, match="max_batch_size=0"):
        ServeConfig(max_batch_size=0)


def test_an_adapter_dir_that_does_not_exist_is_said_and_one_that_is_a_file_refused(tmp_path, monkeypatch, caplog):
    from ptune.engine.bank import AdapterBank
    from ptune.errors import ConfigError
    from ptune.serve.server import serve
    from ptune.serve.config import ServeConfig

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop()

    monkeypatch.setattr(AdapterBank, "for_backbone", stop)  # the checks before loading are what is tested
    caplog.set_level("WARNING", logger="ptune")
    with pytest.raises(Stop):
        serve({}, ServeConfig(adapter_dir=str(tmp_path / "not-yet")), model_name="m")
    assert "--adapter-dir" in caplog.text and "does not exist (yet)" in caplog.text
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="that is a file"):
        serve({}, ServeConfig(adapter_dir=str(tmp_path / "a-file")), model_name="m")
