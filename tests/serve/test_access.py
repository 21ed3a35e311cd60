"""Access control and request ids: 401 without a key, 200 with one, keys compared in constant time
and never logged, rotation without a restart, CORS off unless asked, an id on every response."""
import logging
import time

import pytest
from fastapi.testclient import TestClient

from ptune.engine.bank import AdapterBank
from ptune.errors import ConfigError, PtuneError
from ptune.serve import access
from ptune.serve.app import create_app
from ptune.serve.config import ServeConfig

KEY = "k3y-0f-the-first-client-7a1c9e"
OTHER = "k3y-0f-the-second-client-55b0"
BODY = {"task": "sst2", "inputs": ["a gripping film"]}


@pytest.fixture()
def bank(random_adapters, tiny_backbone_dir):
    return AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))


@pytest.fixture()
def key_file(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text(f"# clients\n{KEY}\n\n{OTHER}\n")
    return path


def client(bank, **settings):
    return TestClient(create_app(bank, ServeConfig(**settings)))


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_without_a_key_401_with_one_200_and_healthz_stays_open(bank, key_file):
    with client(bank, api_key_file=str(key_file)) as http:
        missing = http.post("/v1/predict", json=BODY)
        assert missing.status_code == 401 and missing.json()["error"]["kind"] == "unauthorized"
        assert "Authorization: Bearer" in missing.json()["error"]["message"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = http.post("/v1/predict", json=BODY, headers=bearer(KEY + "x"))
        assert wrong.status_code == 401 and "not accepted" in wrong.json()["error"]["message"]
        assert http.post("/v1/predict", json=BODY, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        for key in (KEY, OTHER):
            assert http.post("/v1/predict", json=BODY, headers=bearer(key)).status_code == 200
        for path in ("/v1/tasks", "/metrics", "/openapi.json"):
            assert http.get(path).status_code == 401 and http.get(path, headers=bearer(KEY)).status_code == 200
        assert http.get("/healthz").status_code == 200 and http.head("/healthz").status_code == 200
        metrics = http.get("/metrics", headers=bearer(KEY)).text
        assert 'ptune_errors_total{kind="unauthorized"}' in metrics


def test_every_key_is_compared_in_constant_time(bank, key_file, monkeypatch):
    calls = []
    real = access.hmac.compare_digest
    monkeypatch.setattr(access.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    keys = access.ApiKeys(key_file)
    for token in (KEY, OTHER, "nothing-like-either-key"):
        calls.clear()
        keys.allows(token.encode())
        assert len(calls) == 2  # both keys, whichever matched (no early exit)


def test_keys_are_never_logged_nor_echoed(bank, key_file, caplog):
    caplog.set_level(logging.DEBUG)
    with client(bank, api_key_file=str(key_file)) as http:
        replies = [http.post("/v1/predict", json=BODY, headers=bearer(KEY)),
                   http.post("/v1/predict", json=BODY, headers=bearer(KEY[:-1])),
                   http.post("/v1/predict", json={"task": "nope", "inputs": ["x"]}, headers=bearer(KEY))]
    assert any(r.name == "ptune.serve.access" for r in caplog.records)  # the access lines were written
    for secret in (KEY, KEY[:-1], OTHER):
        assert secret not in caplog.text
        assert all(secret not in r.text and secret not in str(r.headers) for r in replies)


def test_a_changed_key_file_takes_effect_without_a_restart(bank, key_file):
    keys = access.ApiKeys(key_file)
    assert keys.allows(KEY.encode())
    key_file.write_text("a-brand-new-key-after-rotation\n")
    keys._checked = 0.0  # as if a second had passed
    assert keys.allows(b"a-brand-new-key-after-rotation") and not keys.allows(KEY.encode())


@pytest.mark.parametrize("change", ["emptied", "deleted", "truncated", "garbled"])
def test_a_key_file_emptied_or_removed_while_serving_revokes_every_key(bank, key_file, change, caplog):
    caplog.set_level(logging.ERROR)
    with client(bank, api_key_file=str(key_file)) as http:
        assert http.post("/v1/predict", json=BODY, headers=bearer(KEY)).status_code == 200
        if change == "deleted":
            key_file.unlink()
        else:
            key_file.write_bytes({"emptied": b"", "truncated": KEY[:5].encode() + b"\n",
                                  "garbled": b"\xff\xfe\x00garbage"}[change])
        time.sleep(1.1)  # keys are looked at again at most once a second
        for key in (KEY, OTHER):
            refused = http.post("/v1/predict", json=BODY, headers=bearer(key))
            assert refused.status_code == 401, change
        assert http.get("/healthz").status_code == 200
        key_file.write_text(f"{OTHER}\n")  # fixed: the keys in it work again
        time.sleep(1.1)
        assert http.post("/v1/predict", json=BODY, headers=bearer(OTHER)).status_code == 200
        assert http.post("/v1/predict", json=BODY, headers=bearer(KEY)).status_code == 401
    revoked = [r.getMessage() for r in caplog.records if "every key is revoked" in r.getMessage()]
    assert len(revoked) == 1  # said once, not once per request
    assert KEY not in caplog.text and OTHER not in caplog.text


@pytest.mark.parametrize("content, message", [
    ("", "holds no keys"), ("# only a comment\n", "holds no keys"),
    ("short\n", "shorter than 16 characters"), ("a key with spaces in it!!\n", "holds spaces"),
])
def test_a_bad_key_file_is_refused_at_start_up(bank, tmp_path, content, message):
    path = tmp_path / "keys.txt"
    path.write_text(content)
    with pytest.raises(PtuneError, match=message):
        create_app(bank, ServeConfig(api_key_file=str(path)))
    with pytest.raises(PtuneError, match="No such file"):
        create_app(bank, ServeConfig(api_key_file=str(tmp_path / "absent.txt")))


def test_every_response_carries_a_request_id_and_the_access_line_names_it(bank, caplog):
    caplog.set_level(logging.INFO, logger="ptune.serve.access")
    with client(bank) as http:
        fresh = http.post("/v1/predict", json=BODY)
        given = http.get("/v1/tasks", headers={"X-Request-ID": "trace-42.a:b"})
        unsafe = http.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        error = http.post("/v1/predict", json={"task": "nope", "inputs": ["x"]})
    assert len(fresh.headers["x-request-id"]) == 32 and given.headers["x-request-id"] == "trace-42.a:b"
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces" and error.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "ptune.serve.access"]
    assert any(line.startswith("trace-42.a:b GET /v1/tasks 200 ") for line in lines)
    assert any(line.startswith(f"{error.headers['x-request-id']} POST /v1/predict 404 ") for line in lines)


def test_cors_is_off_unless_asked_and_preflight_needs_no_key(bank, key_file):
    origin = {"Origin": "https://app.example.com"}
    with client(bank) as http:
        assert "access-control-allow-origin" not in http.get("/healthz", headers=origin).headers
    with client(bank, cors_origins="https://app.example.com", api_key_file=str(key_file)) as http:
        preflight = http.options("/v1/predict", headers={**origin, "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        answered = http.post("/v1/predict", json=BODY, headers={**origin, **bearer(KEY)})
        assert answered.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "x-request-id" in answered.headers["access-control-expose-headers"].lower()
        other = http.get("/healthz", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
    with pytest.raises(ConfigError, match="is not an origin"):
        ServeConfig(cors_origins="app.example.com")


def test_the_python_client_sends_its_key(bank, key_file, monkeypatch):
    from serve.test_serve import real_server

    from ptune.serve.client import PtuneClient, ServeError

    with real_server(bank, api_key_file=str(key_file)) as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(ServeError) as refused:
            PtuneClient(url).predict("sst2", ["great"])
        assert refused.value.status == 401
        assert PtuneClient(url, api_key=KEY).predict("sst2", ["great"]) == PtuneClient(url, api_key=OTHER).predict(
            "sst2", ["great"])
        monkeypatch.setenv("PTUNE_API_KEY", KEY)
        assert PtuneClient(url).tasks()



def test_the_api_docs_page_needs_no_third_party_script_and_the_schema_needs_a_key(bank, key_file):
    import re

    with client(bank, api_key_file=str(key_file)) as http:
        page = http.get("/docs")
        assert page.status_code == 200 and "/openapi.json" in page.text
        assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?https?:", page.text)  # nothing fetched from elsewhere
        assert "http://" not in page.text and "https://" not in page.text
        assert http.get("/redoc").status_code in (401, 404)
        assert http.get("/openapi.json").status_code == 401
        assert http.get("/").status_code == 200  # the playground: static, its calls carry the typed key


def test_the_openapi_schema_types_every_answer(bank):
    with client(bank) as http:
        spec = http.get("/openapi.json").json()
    def answer(path, method="get"):
        return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    predictions = answer("/v1/predict", "post")["properties"]["predictions"]["items"]["anyOf"]
    assert {p["title"] for p in predictions} == {"Classification", "Entities", "Answer"}
    assert set(answer("/v1/tasks")["properties"]) == {"tasks", "backbone"}
    assert answer("/v1/tasks")["properties"]["tasks"]["items"]["required"][:3] == ["name", "task", "labels"]
    assert set(answer("/healthz")["required"]) == {"status", "tasks", "queue_depth"}
    with client(bank) as http:  # and the answers have those shapes
        tasks = http.get("/v1/tasks").json()
        assert set(TASK_KEYS) <= set(tasks["tasks"][0])
        assert set(http.get("/healthz").json()) <= set(answer("/healthz")["properties"])


TASK_KEYS = ("name", "task", "labels", "input", "injection", "virtual_tokens", "max_length", "dev_metrics", "input_help",
             "input_fields")


def test_behind_a_proxy_that_echoes_the_request_id_it_is_sent_once(bank):
    app = create_app(bank, ServeConfig(), echo_request_id=False)
    with TestClient(app) as http:
        reply = http.get("/healthz", headers={"X-Request-ID": "from-the-proxy"})
    assert "x-request-id" not in reply.headers
    with client(bank) as http:
        reply = http.get("/healthz", headers={"X-Request-ID": "from-the-client"})
    assert reply.headers.get_list("x-request-id") == ["from-the-client"]
