"""`ptune serve --backend ray` (ptune.serve.ray_backend): the same app on Ray Serve with the whole bank
as the replicated unit. End to end on a local Ray instance bound to loopback with two replicas: the
same answers as one process, both replicas answering, a folder added to --adapter-dir reaching
every replica, bearer keys, SIGTERM stopping it all. The flag checks run without Ray."""
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from agreement import answers_agree
from helpers import ptune
from test_workers import TEXTS, free_port, two_task_adapters

KEY = "s3cret-key-for-tests"


def test_ray_flags_need_the_ray_backend_and_replicas_replace_workers(tmp_path):
    alone = ptune("serve", "--adapter", f"a={tmp_path}", "--replicas", "2")
    assert alone.returncode == 2 and "--replicas: Ray Serve settings; add --backend ray" in alone.stderr
    both = ptune("serve", "--adapter", f"a={tmp_path}", "--backend", "ray", "--workers", "2")
    assert both.returncode == 2 and "use --replicas N" in both.stderr


def test_scaling_settings_become_ray_deployment_options():
    pytest.importorskip("ray")
    from ptune.errors import ConfigError
    from ptune.serve.ray_backend import ScalingConfig

    fixed = ScalingConfig(replicas=3, cpus_per_replica=2).deployment_options()
    assert fixed["num_replicas"] == 3 and fixed["ray_actor_options"] == {"num_cpus": 2}
    assert fixed["max_ongoing_requests"] > 5  # Ray's default of 5 would starve the batches
    scaled = ScalingConfig(replicas=1, max_replicas=4, target_ongoing_requests=8).deployment_options()
    assert "num_replicas" not in scaled and scaled["autoscaling_config"] == {
        "min_replicas": 1, "initial_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8}
    with pytest.raises(ConfigError, match=r"--max-replicas 1: expected >= --replicas \(2\)"):
        ScalingConfig(replicas=2, max_replicas=1)


def test_the_app_builder_reads_rays_key_value_arguments(tmp_path):
    pytest.importorskip("ray")
    from ptune.errors import ConfigError
    from ptune.serve.ray_backend import app_builder

    application = app_builder({"adapter": f"a={tmp_path}", "replicas": "2", "max_wait_ms": "2.5", "batching": "false"})
    spec = application._bound_deployment.init_args[0]
    assert spec.adapters == {"a": str(tmp_path)} and spec.config.max_wait_ms == 2.5 and spec.config.batching is False
    assert application._bound_deployment._deployment_config.num_replicas == 2
    with pytest.raises(ConfigError, match="unknown \\['colour'\\]"):
        app_builder({"adapter": f"a={tmp_path}", "colour": "red"})


@pytest.fixture()
def ray_server(tiny_bert, tiny_backbone_dir, tmp_path):
    pytest.importorskip("ray")
    backbone, _ = tiny_bert
    adapters = two_task_adapters(backbone, tiny_backbone_dir, tmp_path)
    watched = tmp_path / "watched"
    watched.mkdir()
    keys = tmp_path / "keys.txt"
    keys.write_text(KEY + "\n")
    port = free_port()
    command = [sys.executable, "-m", "ptune.cli", "serve", "--backend", "ray", "--replicas", "2", "--threads", "1",
               "--port", str(port), "--adapter-dir", str(watched), "--poll-seconds", "0.3", "--no-access-log",
               "--api-key-file", str(keys)]
    for name, folder in adapters.items():
        command += ["--adapter", f"{name}={folder}"]
    # Ray Serve's proxy checks are left to `ptune serve` (patient_proxy_checks): a loaded machine is what it guards
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_SERVE_PROXY_")}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # Ray starts its processes first: seconds, more on a loaded machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, server.stderr.read()[-3000:]
        time.sleep(0.5)
    # Ready means a prediction request answered too: on a loaded machine the first one can take more
    # than the 30 s the tests allow a request (two runs beside training jobs timed out there).
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/v1/predict", json={"task": "sst2", "inputs": ["great"]}, timeout=60)
            break
        except httpx.HTTPError:
            assert server.poll() is None, server.stderr.read()[-3000:]
    try:
        yield server, url, adapters, watched
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)


def health(url: str) -> dict:
    return httpx.get(url + "/healthz", timeout=30).json()


@pytest.mark.slow
def test_two_ray_replicas_answer_as_one_process(ray_server, tiny_backbone_dir):
    from ptune.engine.bank import AdapterBank

    server, url, adapters, watched = ray_server
    headers = {"Authorization": f"Bearer {KEY}"}
    assert httpx.post(url + "/v1/predict", json={"task": "sst2", "inputs": ["great"]}, timeout=30).status_code == 401

    port = url.rsplit(":", 1)[1]
    lines = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.splitlines()
    local = {line.split()[3] for line in lines if line.strip()}  # State Recv-Q Send-Q Local Peer
    assert local == {f"127.0.0.1:{port}"}, lines  # ptune's port: loopback only

    seen, deadline = set(), time.monotonic() + 120
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(health(url)["worker"])  # Ray Serve's replica ids
    assert len(seen) == 2

    bank = AdapterBank.from_adapters(adapters, model_name=str(tiny_backbone_dir))
    requests = [{"task": name, "inputs": [TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)]}
                for i, name in enumerate(["sst2", "ner"] * 20)]

    def ask(payload):
        response = httpx.post(url + "/v1/predict", json=payload, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        assert len(response.headers.get_list("x-request-id")) == 1  # Ray's proxy sends it; ptune does not again
        return response.json()["predictions"]

    with ThreadPoolExecutor(8) as pool:  # concurrent requests of both tasks: mixed @serve.batch batches
        answers = list(pool.map(ask, requests))
    for payload, got in zip(requests, answers):
        expected = bank.predict([(payload["task"], text) for text in payload["inputs"]])
        assert all(answers_agree(a, b) for a, b in zip(got, expected)), (payload, got, expected)

    # A folder added to --adapter-dir reaches every replica.
    shutil.copytree(adapters["sst2"], watched / "late")
    reached, deadline = set(), time.monotonic() + 120
    while reached != seen and time.monotonic() < deadline:
        state = health(url)
        if state["tasks"] == 3:
            reached.add(state["worker"])
    assert reached == seen
    late = httpx.post(url + "/v1/predict", json={"task": "late", "inputs": TEXTS[:2]}, headers=headers, timeout=60)
    assert late.status_code == 200 and answers_agree(late.json()["predictions"], bank.predict(
        [("sst2", text) for text in TEXTS[:2]]))

    server.send_signal(signal.SIGTERM)
    assert server.wait(120) == 0, server.stderr.read()[-3000:]


def test_a_local_ray_says_what_it_opens_and_warns_without_authentication():
    from ptune.serve.ray_backend import local_ray_exposure

    assert "token authentication guards them" in local_ray_exposure({})
    assert "WITHOUT authentication" in local_ray_exposure({"RAY_AUTH_MODE": "disabled"})


def test_proxy_checks_wait_a_minute_unless_the_user_set_them():
    from ptune.serve.ray_backend import patient_proxy_checks

    environ = {"RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "7"}
    assert patient_proxy_checks(environ) == {"RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60"}
    assert environ == {"RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "7", "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60"}
    assert patient_proxy_checks(environ) == {}  # nothing left to set: the user's values and ours stay
