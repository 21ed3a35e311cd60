"""`ptune serve --workers 2` as a user runs it: the same answers as one process, every worker
answering, the backbone's weights mapped once (the same shared-memory objects in every worker), a
folder added to --adapter-dir reaching every worker, SIGTERM stopping them all."""
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from agreement import answers_agree
from conftest import save_random_adapter
from ptune.engine.bank import AdapterBank
from ptune.serve.workers import threads_per_worker

TEXTS = ["a gripping film", "the movie was dull and far too long", "great", "John lives in London with Mary"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_weight_objects(pid: int) -> set[str]:
    """The inodes of the shared-memory tensors a process maps (torch names them /dev/shm/torch_*)."""
    inodes = set()
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) >= 6 and fields[5].startswith("/dev/shm/torch_"):
            inodes.add(fields[4])
    return inodes


def fresh_health(url: str) -> dict:
    with httpx.Client() as client:  # a new connection: the kernel may hand it to any worker
        return client.get(url + "/healthz").json()


def worker_pids(url: str) -> dict[int, int]:
    """{worker index: pid}, asking on fresh connections until worker 1 has answered too."""
    pids, deadline = {}, time.monotonic() + 60
    while 1 not in pids and time.monotonic() < deadline:
        health = fresh_health(url)
        pids[health["worker"]] = health["pid"]
    assert 1 in pids, "worker 1 never answered"
    return pids


def two_task_adapters(backbone, backbone_dir, root) -> dict:
    """A deep-prompt classifier and an input-level tagger on the tiny backbone."""
    return {"sst2": save_random_adapter(backbone, backbone_dir, root / "sst2", task="classification",
                                        injection="deep", placement="after_cls", k=3, seed=0),
            "ner": save_random_adapter(backbone, backbone_dir, root / "ner", task="token_classification",
                                       injection="input", placement="after_cls", k=2, seed=1)}


@pytest.fixture()
def workers_server(tiny_bert, tiny_backbone_dir, tmp_path):
    backbone, _ = tiny_bert
    adapters = two_task_adapters(backbone, tiny_backbone_dir, tmp_path)
    watched = tmp_path / "watched"
    watched.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "ptune.cli", "serve", "--workers", "2", "--port", str(port),
               "--adapter-dir", str(watched), "--poll-seconds", "0.3", "--no-access-log"]
    for name, folder in adapters.items():
        command += ["--adapter", f"{name}={folder}"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            fresh_health(url)
            break
        except httpx.HTTPError:
            assert server.poll() is None, server.stderr.read()[-3000:]
            time.sleep(0.3)
    try:
        yield server, url, adapters, watched
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)


def test_two_workers_answer_as_one_process_and_share_the_backbone(workers_server, tiny_backbone_dir, tmp_path):
    server, url, adapters, watched = workers_server
    bank = AdapterBank.from_adapters(adapters, model_name=str(tiny_backbone_dir))
    requests = [{"task": name, "inputs": [TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)]}
                for i, name in enumerate(["sst2", "ner"] * 20)]

    def ask(payload):
        with httpx.Client(timeout=60) as client:  # one connection per request, so both workers get some
            return client.post(url + "/v1/predict", json=payload).json()["predictions"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and fresh_health(url)["worker"] == 0:
        pass  # until worker 1 takes connections too, so that both answer the requests below
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, requests))
    for payload, got in zip(requests, answers):
        expected = bank.predict([(payload["task"], text) for text in payload["inputs"]])
        assert all(answers_agree(a, b) for a, b in zip(got, expected)), (payload, got, expected)

    seen, deadline = {}, time.monotonic() + 60  # worker 0 (the first process) answers while 1 still starts
    while len(seen) < 2 and time.monotonic() < deadline:
        health = fresh_health(url)
        seen[health["worker"]] = health["pid"]
    assert set(seen) == {0, 1} and seen[0] == server.pid
    objects = [shared_weight_objects(pid) for pid in seen.values()]
    state = bank.backbone.state_dict()
    assert len(objects[0]) >= len({t.untyped_storage().data_ptr() for t in state.values()}) * 0.9
    assert objects[0] == objects[1]  # the same shared-memory objects: one copy of the weights
    assert objects[0] <= shared_weight_objects(server.pid)

    # A folder added to --adapter-dir reaches every worker.
    shutil.copytree(adapters["sst2"], watched / "late")
    reached, deadline = set(), time.monotonic() + 60
    while reached != {0, 1} and time.monotonic() < deadline:
        health = fresh_health(url)
        if health["tasks"] == 3:
            reached.add(health["worker"])
    assert reached == {0, 1}

    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    for pid in seen.values():
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)


def test_threads_are_shared_out_and_bad_worker_counts_refused(capsys, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_worker(2, None) == 4 and threads_per_worker(16, None) == 1 and threads_per_worker(2, 3) == 3
    from ptune.cli import main

    assert main(["serve", "--adapter", "a=x", "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err


def test_a_worker_killed_under_load_is_replaced_and_counted(workers_server):
    import os
    import re
    import threading

    server, url, adapters, watched = workers_server
    pids = worker_pids(url)
    outcomes, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                with httpx.Client(timeout=30) as client:
                    outcomes.append(client.post(url + "/v1/predict", json={"task": "sst2", "inputs": TEXTS}).status_code)
            except httpx.HTTPError:
                outcomes.append("failed")

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    os.kill(pids[1], signal.SIGKILL)
    killed_at = time.monotonic()
    replaced, deadline = None, time.monotonic() + 120
    while replaced is None and time.monotonic() < deadline:
        try:
            health = fresh_health(url)
        except httpx.HTTPError:
            continue
        if health["worker"] == 1 and health["pid"] != pids[1]:
            replaced = health["pid"]
    recovered_in = time.monotonic() - killed_at
    stop.set()
    for thread in threads:
        thread.join(60)
    assert replaced is not None, "worker 1 was not started again"
    assert server.poll() is None  # the server lives on
    assert outcomes.count(200) > 0 and outcomes[-1] == 200
    assert outcomes.count("failed") <= 4 * 2  # at most the requests the killed worker held
    with httpx.Client() as client:
        metrics = client.get(url + "/metrics").text
    assert re.search(r"^ptune_worker_restarts 1\.0$", metrics, re.M), metrics
    print(f"worker kill under load: {outcomes.count(200)} answered, {outcomes.count('failed')} failed, "
          f"replaced in {recovered_in:.1f} s")


def test_workers_stop_when_the_serving_process_is_killed(workers_server):
    """SIGKILL (or the OOM killer) on the serving process leaves no worker serving on, unsupervised,
    on the port: each worker notices its parent is gone, drains and exits."""
    import os

    server, url, _, _ = workers_server
    pids = worker_pids(url)
    server.kill()
    server.wait(30)
    def running(pid: int) -> bool:  # an exited worker nobody has reaped yet (a zombie) is not running
        try:
            os.kill(pid, 0)
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            return False

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not running(pids[1]):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"worker 1 (pid {pids[1]}) still runs 30 s after the serving process was killed")
    with pytest.raises(httpx.HTTPError):
        fresh_health(url)
