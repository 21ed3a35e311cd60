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
        done = subprocess.run([sys.executable, "-m", "ptune.cli", *map(str, args)], input=stdin, capture_output=True,
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
        ("compare: unknown method", lambda: ptune("compare", "--data", DEMO, "--methods", "p-tune", "--output", work / "grid")),
        ("advise: `--model-size 0`", lambda: ptune("advise", "--task", "ner", "--model-size", "0", "--train-size", "10")),
    ]
    rows = ["| input | exit | message |", "|---|---|---|"]
    for label, case in cases:
        code, message = case()
        rows.append(f"| {label} | {code} | {message.replace('|', '/').replace(str(work), '…')[:300]} |")
        print(rows[-1], flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("# Bad inputs and what ptune says\n\nMade by `python benchmarks/bad_inputs.py` (a tiny random-weight BERT; "
                   "paths shortened to …). Exit 2: a mistake in the input, reported in one line; 0: handled.\n\n"
                   + "\n".join(rows) + "\n")
    shutil.rmtree(work)


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
