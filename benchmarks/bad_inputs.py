"""Every bad input a new user is likely to try, run through the real `ptune` command: the exit code
and the one-line message each gets. Writes docs/bad-inputs.md (the table) from a fresh tiny run.

    python benchmarks/bad_inputs.py            # about two minutes on 2 cores
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "ptune" / "resources"
OUT = ROOT / "docs" / "bad-inputs.md"


def ptune(*args, stdin: bytes | None = None, shell_pipe: str | None = None) -> tuple[int, str]:
    if shell_pipe:
        command = " ".join([sys.executable, "-m", "ptune.cli", *map(str, args)]) + shell_pipe
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True)
    else:
        done = subprocess.run([sys.executable, "-m", "ptune.cli", *map(str, args)], input=stdin, capture_output=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [l.strip() for l in done.stderr.decode(errors="replace").splitlines() if l.strip()]
    start = next((i for i, l in enumerate(lines) if l.startswith("ptune ") and ": error:" in l), None)
    message = " ".join(lines[start:]) if start is not None else (lines[-1] if lines else "(nothing on stderr)")
    return done.returncode, message


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ptune-bad-inputs-"))
    model = work / "tiny-bert"
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import build_tiny_model, build_tokenizer

    build_tokenizer(model).save_pretrained(model)
    build_tiny_model("bert").save_pretrained(model)
    run = work / "run"
    flags = ["--model", model, "--epochs", "1", "--batch-size", "16", "--num-virtual-tokens", "4", "--no-progress"]
    assert ptune("train", "--data", DEMO, "--output", run, *flags)[0] == 0

    def damaged(name: str, change) -> Path:
        copy = work / name
        shutil.copytree(run, copy)
        change(copy)
        return copy

    (work / "header.tsv").write_text("sentence\tlabel\n")
    (work / "unseen.tsv").write_text("sentence\tlabel\ngreat\tneutral\n")
    (work / "latin1.txt").write_bytes(b"caf\xe9\n")
    (work / "existing.jsonl").write_text("keep me\n")
    cases = [
        ("`--max-grad-norm -1`", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags, "--max-grad-norm", "-1")),
        ("`--weight-decay -0.1`", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags, "--weight-decay", "-0.1")),
        ("`--batch-size 0 --warmup-ratio 2` (two problems, one message)", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags[:-5], "--batch-size", "0", "--warmup-ratio", "2")),
        ("`--overwrite` with a dev file holding only a header (the finished run is kept)", lambda: ptune("train", "--data", DEMO / "train.tsv", "--dev-data", work / "header.tsv", "--output", run, "--overwrite", *flags)),
        ("`--overwrite` with an unseen dev label (the finished run is kept)", lambda: ptune("train", "--data", DEMO / "train.tsv", "--dev-data", work / "unseen.tsv", "--output", run, "--overwrite", *flags)),
        ("train into a non-empty folder without `--overwrite`", lambda: ptune("train", "--data", DEMO, "--output", run, *flags)),
        ("`--overwrite` on a folder that is not a ptune run", lambda: ptune("train", "--data", DEMO, "--output", model, "--overwrite", *flags)),
        ("`--resume` with another setting", lambda: ptune("train", "--data", DEMO, "--output", run, *flags, "--seed", "3", "--resume")),
        ("`--resume` with no checkpoint", lambda: ptune("train", "--output", work / "empty", "--resume")),
        ("`--resume` with a corrupt checkpoint", lambda: ptune("train", "--output", damaged("corrupt-ckpt", lambda f: (f / "checkpoints/last/optimizer.pt").write_bytes(b"x")), "--resume")),
        ("`--encoder lstm --encoder-depth 2`", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags, "--encoder", "lstm", "--encoder-depth", "2")),
        ("`--task ner` on a TSV file", lambda: ptune("train", "--task", "ner", "--data", DEMO / "train.tsv", "--dev-data", DEMO / "dev.tsv", "--output", work / "a", *flags)),
        ("eval: truncated inference.safetensors", lambda: ptune("eval", "--adapter", damaged("trunc", lambda f: (f / "inference.safetensors").write_bytes(b"\x00" * 10)), "--data", DEMO)),
        ("eval: empty inference.safetensors", lambda: ptune("eval", "--adapter", damaged("empty", lambda f: (f / "inference.safetensors").write_bytes(b"")), "--data", DEMO)),
        ("eval: invalid ptune_config.json", lambda: ptune("eval", "--adapter", damaged("badjson", lambda f: (f / "ptune_config.json").write_text("{")), "--data", DEMO)),
        ("eval: incomplete ptune_config.json", lambda: ptune("eval", "--adapter", damaged("partial", lambda f: (f / "ptune_config.json").write_text('{"format_version": 2}')), "--data", DEMO)),
        ("eval: label count edited in the config", lambda: ptune("eval", "--adapter", damaged("labels", lambda f: edit(f, '"positive"', '"positive", "neutral"')), "--data", DEMO)),
        ("eval: virtual-token count edited in the config", lambda: ptune("eval", "--adapter", damaged("tokens", lambda f: edit(f, '"num_virtual_tokens": 4', '"num_virtual_tokens": 9')), "--data", DEMO)),
        ("eval: not an adapter folder", lambda: ptune("eval", "--adapter", work, "--data", DEMO)),
        ("eval: header-only data", lambda: ptune("eval", "--adapter", run, "--data", work / "header.tsv")),
        ("eval: an unseen label in the data", lambda: ptune("eval", "--adapter", run, "--data", work / "unseen.tsv")),
        ("eval: `--batch-size 0`", lambda: ptune("eval", "--adapter", run, "--data", DEMO, "--batch-size", "0")),
        ("eval: `--json` onto an existing file", lambda: ptune("eval", "--adapter", run, "--data", DEMO, "--json", work / "existing.jsonl")),
        ("eval: `--json` onto the adapter's own config, even with `--overwrite`", lambda: ptune("eval", "--adapter", run, "--data", DEMO, "--json", run / "ptune_config.json", "--overwrite")),
        ("eval: `--json - | head -1` (the reader goes away)", lambda: ptune("eval", "--adapter", run, "--data", DEMO, "--json", "-", shell_pipe=" | head -1 > /dev/null")),
        ("predict: no input", lambda: ptune("predict", "--adapter", run)),
        ("predict: `--file` that does not exist", lambda: ptune("predict", "--adapter", run, "--file", work / "nope.txt")),
        ("predict: non-UTF-8 `--file`", lambda: ptune("predict", "--adapter", run, "--file", work / "latin1.txt")),
        ("predict: non-UTF-8 stdin", lambda: ptune("predict", "--adapter", run, "-", stdin=b"caf\xe9\n")),
        ("predict: `--output` in a missing folder", lambda: ptune("predict", "--adapter", run, "great", "--output", work / "no" / "x.jsonl")),
        ("predict: `--output` onto an existing file", lambda: ptune("predict", "--adapter", run, "great", "--output", work / "existing.jsonl")),
        ("predict: `--batch-size 0`", lambda: ptune("predict", "--adapter", run, "great", "--batch-size", "0")),
        ("predict: a backbone of another hidden size with `--allow-backbone-mismatch`", lambda: ptune("predict", "--adapter", run, "great", "--model", wider(work), "--allow-backbone-mismatch")),
        ("train: `--report-to wandb` without wandb installed", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags, "--report-to", "wandb")),
        ("train: `--report-to mlflow`", lambda: ptune("train", "--data", DEMO, "--output", work / "a", *flags, "--report-to", "mlflow")),
        ("multitask: `--task sst2=classification` (no data)", lambda: ptune("multitask", "--task", "sst2=classification", "--output", work / "mt")),
        ("multitask: `--shared-encoder` with the embedding encoder", lambda: ptune("multitask", "--task", f"a=classification:{DEMO}", "--task", f"b=classification:{DEMO}", "--shared-encoder", "--output", work / "mt")),
        ("multitask: two tasks of one name", lambda: ptune("multitask", "--task", f"a=classification:{DEMO}", "--task", f"a=classification:{DEMO}", "--output", work / "mt")),
        ("multitask: `--spec` that is not JSON", lambda: ptune("multitask", "--spec", work / "latin1.txt", "--output", work / "mt")),
        ("multitask: into a single-task run folder", lambda: ptune("multitask", "--model", model, "--task", f"a=classification:{DEMO}", "--output", run, "--overwrite")),
        ("serve: nothing to serve", lambda: ptune("serve")),
        ("serve: `--adapter sst2` (no folder)", lambda: ptune("serve", "--adapter", "sst2")),
        ("serve: `--max-batch-size 0`", lambda: ptune("serve", "--adapter", f"sst2={run}", "--max-batch-size", "0")),
        ("serve: an adapter of another backbone beside one of this backbone", lambda: ptune("serve", "--adapter", f"sst2={run}", "--adapter", f"other={damaged('foreign', refingerprint)}")),
        ("serve: a task name with a slash", lambda: ptune("serve", "--adapter", f"a/b={run}")),
        ("compare: unknown method", lambda: ptune("compare", "--data", DEMO, "--methods", "p-tune", "--output", work / "grid")),
        ("advise: `--model-size 0`", lambda: ptune("advise", "--task", "ner", "--model-size", "0", "--train-size", "10")),
    ]
    rows = ["| input | exit | message |", "|---|---|---|"]
    for label, case in cases:
        code, message = case()
        rows.append(f"| {label} | {code} | {message.replace('|', '/').replace(str(work), '…')[:300]} |")
        print(rows[-1], flush=True)
    http = ["| request | status | error kind | message |", "|---|---|---|---|"] + http_rows(run, model, work)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("# Bad inputs and what ptune says\n\nMade by `python benchmarks/bad_inputs.py` (a tiny random-weight BERT; "
                   "paths shortened to …). Exit 2: a mistake in the input, reported in one line; 0: handled.\n\n"
                   + "\n".join(rows) + "\n\n## `ptune serve`: bad requests\n\nThe same server answers each (tasks `sst2`, "
                   "`rte` taking pairs, `ner`; limits lowered to 8 inputs, 200 characters, 2,000 bytes), and a good "
                   "request after each is answered.\n\n" + "\n".join(http) + "\n")
    shutil.rmtree(work)


def http_rows(run: Path, model: Path, work: Path) -> list[str]:
    from fastapi.testclient import TestClient

    from conftest import save_random_adapter
    from ptune.engine.backbone import load_backbone
    from ptune.engine.bank import AdapterBank
    from ptune.serve.app import create_app
    from ptune.serve.config import ServeConfig

    backbone, _ = load_backbone(str(model))
    adapters = {"sst2": run,
                "rte": save_random_adapter(backbone, model, work / "rte", task="classification", injection="input",
                                           placement="after_cls", k=3, seed=1, inputs="pair"),
                "ner": save_random_adapter(backbone, model, work / "ner", task="token_classification", injection="deep",
                                           placement="after_cls", k=4, seed=2)}
    bank = AdapterBank.from_adapters(adapters, model_name=str(model))
    json_type = {"content-type": "application/json"}
    requests = [
        ("unknown task", dict(json={"task": "nope", "inputs": ["x"]})),
        ("`task` not a string", dict(json={"task": 3, "inputs": ["x"]})),
        ("no `inputs`", dict(json={"task": "sst2"})),
        ("`inputs` a string, not a list", dict(json={"task": "sst2", "inputs": "great"})),
        ("empty `inputs`", dict(json={"task": "sst2", "inputs": []})),
        ("an unknown field", dict(json={"task": "sst2", "inputs": ["x"], "top_k": 3})),
        ("a JSON list as the body", dict(json=["sst2", "great"])),
        ("a pair for a single-text task", dict(json={"task": "sst2", "inputs": [["a", "b"]]})),
        ("a single text for a pair task", dict(json={"task": "rte", "inputs": ["a"]})),
        ("a number as an input", dict(json={"task": "sst2", "inputs": [42]})),
        ("a word list for NER", dict(json={"task": "ner", "inputs": [["John", "lives"]]})),
        ("an empty input", dict(json={"task": "sst2", "inputs": ["ok", ""]})),
        ("a whitespace input", dict(json={"task": "ner", "inputs": ["  \n"]})),
        ("an input over the character limit", dict(json={"task": "sst2", "inputs": ["x" * 201]})),
        ("more inputs than the limit", dict(json={"task": "sst2", "inputs": ["x"] * 9})),
        ("invalid JSON", dict(content=b'{"task": "sst2", "inputs": [', headers=json_type)),
        ("a body that is not UTF-8", dict(content=b'{"task": "\xff"}', headers=json_type)),
        ("`Content-Type: text/plain`", dict(content=b'{"task": "sst2", "inputs": ["x"]}', headers={"content-type": "text/plain"})),
        ("a body over the byte limit", dict(content=b'{"task": "sst2", "inputs": ["' + b"x" * 3000 + b'"]}', headers=json_type)),
        ("GET on /v1/predict", None),
        ("an unknown path", "/v2/predict"),
    ]
    rows = []
    settings = ServeConfig(max_inputs_per_request=8, max_chars_per_input=200, max_body_bytes=2000, max_queue=64)
    with TestClient(create_app(bank, settings)) as client:
        for label, send in requests:
            if send is None:
                answer = client.get("/v1/predict")
            elif isinstance(send, str):
                answer = client.get(send)
            else:
                answer = client.post("/v1/predict", **send)
            error = answer.json()["error"]
            assert client.post("/v1/predict", json={"task": "sst2", "inputs": ["great"]}).status_code == 200
            rows.append(f"| {label} | {answer.status_code} | `{error['kind']}` | {error['message'].replace('|', '/')[:200]} |")
            print(rows[-1], flush=True)
    return rows


def refingerprint(folder: Path) -> None:
    """The adapter as if trained on another backbone: its recorded weight fingerprint changed."""
    import json

    path = folder / "ptune_config.json"
    config = json.loads(path.read_text())
    config["backbone"]["fingerprint"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(config))


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / "ptune_config.json"
    path.write_text(path.read_text().replace(old, new, 1))


def wider(work: Path) -> Path:
    from transformers import AutoModel, BertConfig

    folder = work / "wider"
    shutil.copytree(work / "tiny-bert", folder, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    AutoModel.from_config(BertConfig(vocab_size=935, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64)).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    main()
