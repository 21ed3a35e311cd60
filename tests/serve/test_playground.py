"""The playground page at GET /: self-contained (no request leaves the server), and in headless
Chromium each task once: labels with probabilities, entities highlighted in the text, the QA
answer highlighted in its context. `PTUNE_SCREENSHOT=docs/playground.png` also saves a screenshot."""
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import save_random_adapter
from ptune.engine.bank import AdapterBank
from serve.test_serve import real_server

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
                None)


def test_the_page_is_self_contained_and_needs_no_key(random_adapters, tiny_backbone_dir, tmp_path):
    from fastapi.testclient import TestClient

    from ptune.serve.app import create_app
    from ptune.serve.config import ServeConfig

    keys = tmp_path / "keys.txt"
    keys.write_text("a-long-enough-test-key-0123\n")
    bank = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))
    with TestClient(create_app(bank, ServeConfig(api_key_file=str(keys)))) as http:
        page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert len(html) < 20_000  # small
    # Nothing fetched from elsewhere: no external scripts, styles, fonts or images.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "@import" not in html
    assert "url(" not in html and "fonts.googleapis" not in html
    assert 'fetch(path' in html  # it calls this server's own API, relative paths only


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_backbone_dir):
    from ptune.engine.backbone import load_backbone

    folder = tmp_path_factory.mktemp("playground")
    backbone, _ = load_backbone(str(tiny_backbone_dir))
    adapters = {}
    for name, task in (("sentiment", "classification"), ("entities", "token_classification"),
                       ("qa", "question_answering")):
        adapters[name] = save_random_adapter(backbone, tiny_backbone_dir, folder / name, task=task, injection="deep",
                                             placement="after_cls", k=3, seed=len(adapters))
    bank = AdapterBank.from_adapters(adapters, model_name=str(tiny_backbone_dir))
    with real_server(bank) as port:
        yield bank, port


def rendered(port: int, screenshot: Path | None = None, **params) -> str:
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({**params, "run": "1"})
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--virtual-time-budget=15000", "--window-size=1000,760"]
    if screenshot is not None:
        subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    result = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_each_task_in_headless_chromium(served, tmp_path):
    bank, port = served
    screenshot = os.environ.get("PTUNE_SCREENSHOT")

    dom = rendered(port, Path(screenshot).resolve() if screenshot else None, task="sentiment",
                   text="a gripping, beautifully shot film\nthe movie was dull")
    body = dom[dom.find("<body"):dom.find("<script")]
    assert 'data-ready="1"' in dom and 'class="error" id="error"></div>' in dom, body  # settled, no error shown
    expected = bank.predict([("sentiment", "a gripping, beautifully shot film"), ("sentiment", "the movie was dull")])
    tops = re.findall(r'<div class="top">([^<]*)</div>', dom)
    assert tops == [p["label"] for p in expected]
    assert len(re.findall(r'<div class="bar">', dom)) == 2 * len(expected[0]["probabilities"])
    best = max(expected[0]["probabilities"].values())
    assert f"{100 * best:.1f}%" in dom

    sentence = "John lives in London with Mary"
    dom = rendered(port, task="entities", text=sentence)
    entities = bank.predict([("entities", sentence)])[0]["entities"]
    marks = re.findall(r'<mark>([^<]*)<span class="tag">([^<]*)</span></mark>', dom)
    assert marks == [(sentence[e["start"]:e["end"]], e["type"]) for e in entities]
    assert f"{len(entities)} entities" in dom or (not entities and "no entities" in dom)

    question, context = "Where does John live?", "John lives in London with Mary."
    dom = rendered(port, task="qa", question=question, context=context)
    answer = bank.predict([("qa", {"question": question, "context": context})])[0]
    if answer.get("no_answer"):
        assert "no answer in this context" in dom
    else:
        assert f'<mark class="answer">{context[answer["start"]:answer["end"]]}</mark>' in dom
    assert f"score {answer['score']}" in dom
