"""The bad inputs a new user is likely to try, as data: how to make each, the exit code it must get
and words its one-line message must hold. tests/test_bad_inputs.py runs every case through the
real `ptune` entry point; with PTUNE_WRITE_BAD_INPUTS=1 it also writes docs/bad-inputs.md from
what the cases printed (`python benchmarks/bad_inputs.py` does both).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from conftest import DEMO, vocabulary


@dataclass
class Case:
    label: str
    """How the case reads in docs/bad-inputs.md."""
    args: Callable[["Workspace"], list]
    exit: int = 2
    says: tuple[str, ...] = ()
    """Fragments the message must contain (after the workspace path is shortened to …)."""
    stdin: bytes | None = None
    pipe: str | None = None
    """A shell pipe after the command (the case then runs under bash)."""
    kept: Callable[["Workspace"], Path] | None = None
    """A file or folder the case must leave byte for byte as it was."""


@dataclass
class Workspace:
    """A tiny backbone, a finished run on it, and the files the cases read."""

    root: Path
    model: Path
    run: Path
    made: dict = field(default_factory=dict)

    @property
    def flags(self) -> list:
        return ["--model", self.model, "--epochs", "1", "--batch-size", "16", "--num-virtual-tokens", "4", "--no-progress"]

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def damaged(self, name: str, change: Callable[[Path], None]) -> Path:
        """A copy of the finished run with one thing broken."""
        if name not in self.made:
            copy = self.root / name
            shutil.copytree(self.run, copy)
            change(copy)
            self.made[name] = copy
        return self.made[name]

    def train(self, *extra, data=DEMO, dev=None) -> list:
        """`ptune train` on the tiny backbone into a new folder."""
        dev_flags = ["--dev-data", dev] if dev is not None else []
        return ["train", "--data", data, *dev_flags, "--output", self.root / "new-run", *self.flags, *extra]


def edit(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "ptune_config.json"
        path.write_text(path.read_text().replace(old, new, 1))
    return change


def refingerprint(folder: Path) -> None:
    """The adapter as if trained on another backbone: its recorded weight fingerprint changed."""
    path = folder / "ptune_config.json"
    config = json.loads(path.read_text())
    config["backbone"]["fingerprint"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(config))


SQUAD_EMPTY = '{"version": "v2.0", "data": []}'
SURROGATE_JSONL = '{"text": "fine", "label": "positive"}\n{"text": "bad \\ud800", "label": "negative"}\n'

CASES = [
    # ---- ptune train: settings -----------------------------------------------------------------
    Case("`--max-grad-norm -1`", lambda w: w.train("--max-grad-norm", "-1"), says=("max_grad_norm=-1.0",)),
    Case("`--max-grad-norm nan`", lambda w: w.train("--max-grad-norm", "nan"), says=("max_grad_norm=nan: expected a finite number",)),
    Case("`--weight-decay nan`", lambda w: w.train("--weight-decay", "nan"), says=("weight_decay=nan",)),
    Case("`--weight-decay -0.1`", lambda w: w.train("--weight-decay", "-0.1"), says=("weight_decay=-0.1",)),
    Case("`--epochs nan`", lambda w: w.train("--epochs", "nan"), says=("epochs=nan",)),
    Case("`--min-steps -1`", lambda w: w.train("--min-steps", "-1"), says=("min_steps=-1: expected 0",)),
    Case("`--contrastive-steps 1e20` (an integer that long)", lambda w: w.train("--contrastive-steps", "1" + "0" * 20),
         says=("contrastive_steps=", "to 10,000,000")),
    Case("`--epochs 1e12`", lambda w: w.train("--epochs", "1e12"), says=("epochs=", "at most 10000")),
    Case("`--batch-size 0 --warmup-ratio 2` (two problems, one message)",
         lambda w: ["train", "--data", DEMO, "--output", w.root / "new-run", "--model", w.model, "--batch-size", "0",
                    "--warmup-ratio", "2", "--no-progress"], says=("batch_size=0", "warmup_ratio=2.0")),
    Case("`--encoder mlp --encoder-hidden-mult nan`", lambda w: w.train("--encoder", "mlp", "--encoder-hidden-mult", "nan"),
         says=("hidden_mult=nan",)),
    Case("`--encoder lstm --encoder-depth 2`", lambda w: w.train("--encoder", "lstm", "--encoder-depth", "2"),
         says=("--encoder-depth", "lstm")),
    Case("`--task qa --doc-stride 200 --max-length 128`",
         lambda w: w.train("--task", "qa", "--doc-stride", "200", "--max-length", "128"), says=("doc_stride=200",)),
    Case("`--task qa --no-answer-threshold nan`", lambda w: w.train("--task", "qa", "--no-answer-threshold", "nan"),
         says=("no_answer_threshold=nan",)),
    Case("`--report-to mlflow`", lambda w: w.train("--report-to", "mlflow"), says=("report_to",)),
    Case("`--head cloze` without `--label-words`", lambda w: w.train("--head", "cloze"), says=("needs label_words",)),
    Case("`--head cloze --label-words great` (no label)", lambda w: w.train("--head", "cloze", "--label-words", "great"),
         says=("is not LABEL=WORD", "--label-words negative=terrible")),
    Case("`--head cloze --template '{text} It was.'` (no [MASK])",
         lambda w: w.train("--head", "cloze", "--label-words", "negative=awful,positive=great", "--template",
                           "{text} It was."), says=("no [MASK]",)),
    Case("`--head cloze --label-words negative=awful` (a label without words)",
         lambda w: w.train("--head", "cloze", "--label-words", "negative=awful"),
         says=("gives no word for label(s) ['positive']",)),
    Case("`--head cloze` with a label word outside the vocabulary",
         lambda w: w.train("--head", "cloze", "--label-words", "negative=zzyzx,positive=great"),
         says=("'zzyzx' is not in this backbone's vocabulary",)),
    Case("`--head cloze` on a backbone without an MLM head",
         lambda w: w.train("--head", "cloze", "--label-words", "negative=awful,positive=great"),
         says=("has no pretrained MLM head", "--head linear")),
    # ---- ptune train: data ---------------------------------------------------------------------
    Case("`--data data/sst2` where there is no such folder", lambda w: w.train(data="data/sst2"),
         says=("data/sst2: no such file or folder",)),
    Case("`--model /nonexistent`", lambda w: ["train", "--data", DEMO, "--output", w.root / "new-run", "--model",
                                                "/nonexistent", "--no-progress"], says=("/nonexistent",)),
    Case("`--task ner` on a TSV file", lambda w: w.train("--task", "ner", data=DEMO / "train.tsv", dev=DEMO / "dev.tsv"), says=("is not O or B-/I-/E-/S-TYPE",)),
    Case("`--task qa` on a SQuAD file with `\"data\": []`",
         lambda w: w.train("--task", "qa", data=w.file("squad/train.json", SQUAD_EMPTY),
                           dev=w.file("squad/dev.json", SQUAD_EMPTY)),
         says=("no questions",)),
    Case("a JSONL row with a lone surrogate (`\"\\ud800\"`)",
         lambda w: w.train(data=w.file("surrogate.jsonl", SURROGATE_JSONL), dev=DEMO / "dev.tsv"),
         says=("surrogate.jsonl:2", "lone surrogate")),
    Case("`--overwrite` with a dev file holding only a header (the finished run is kept)",
         lambda w: ["train", "--data", DEMO / "train.tsv", "--dev-data", w.file("header.tsv", "sentence\tlabel\n"),
                    "--output", w.run, "--overwrite", *w.flags], says=("has no examples",), kept=lambda w: w.run),
    Case("`--overwrite` with an unseen dev label (the finished run is kept)",
         lambda w: ["train", "--data", DEMO / "train.tsv", "--dev-data", w.file("unseen.tsv", "sentence\tlabel\ngreat\tneutral\n"),
                    "--output", w.run, "--overwrite", *w.flags], says=("label 'neutral' is not one of",), kept=lambda w: w.run),
    # ---- ptune train: the output folder --------------------------------------------------------
    Case("train into a non-empty folder without `--overwrite`",
         lambda w: ["train", "--data", DEMO, "--output", w.run, *w.flags], says=("is not empty", "--resume"), kept=lambda w: w.run),
    Case("`--overwrite` on a folder that is not a ptune run", lambda w: ["train", "--data", DEMO, "--output", w.model,
                                                                        "--overwrite", *w.flags], says=("not a ptune run folder",)),
    Case("`--output` that is a file", lambda w: ["train", "--data", DEMO, "--output", w.file("notes.txt", "mine"), *w.flags],
         says=("that is a file, not a folder",), kept=lambda w: w.root / "notes.txt"),
    Case("`--output` under a file", lambda w: ["train", "--data", DEMO, "--output", w.file("notes.txt", "mine") / "run", *w.flags],
         says=("no folder can be made under it",)),
    Case("`--output` under /proc", lambda w: ["train", "--data", DEMO, "--output", "/proc/ptune-run", *w.flags],
         says=("cannot create files in /proc",)),
    Case("`--resume` with another setting", lambda w: ["train", "--data", DEMO, "--output", w.run, *w.flags, "--seed", "3",
                                                       "--resume"], says=("settings differ",)),
    Case("`--resume` with no run", lambda w: ["train", "--output", w.root / "empty", "--resume"], says=("holds no run",)),
    Case("`--resume` with a corrupt checkpoint",
         lambda w: ["train", "--output", w.damaged("corrupt-ckpt", corrupt_checkpoint), "--resume"], says=("is damaged",)),
    Case("compare `--train-sizes 32,zero`", lambda w: ["compare", "--data", DEMO, "--train-sizes", "32,zero",
                                                       "--output", w.root / "curve"], says=("comma-separated positive counts",)),
    Case("compare `--protocol sst2-curve --epochs 3`", lambda w: ["compare", "--data", DEMO, "--protocol", "sst2-curve",
                                                                  "--epochs", "3", "--output", w.root / "curve"],
         says=("a learning curve sets the training size and its step budget",)),
    Case("advise `--curves` on a missing folder", lambda w: ["advise", "--task", "classification", "--model-size", "1",
                                                            "--train-size", "1", "--curves", w.root / "no-curves"],
         says=("no such file or folder",)),
    # ---- ptune eval ----------------------------------------------------------------------------
    Case("eval: truncated inference.safetensors", lambda w: ["eval", "--adapter", w.damaged(
        "trunc", lambda f: (f / "inference.safetensors").write_bytes(b"\x00" * 10)), "--data", DEMO], says=("damaged",)),
    Case("eval: invalid ptune_config.json", lambda w: ["eval", "--adapter", w.damaged(
        "badjson", lambda f: (f / "ptune_config.json").write_text("{")), "--data", DEMO], says=("not valid JSON",)),
    Case("eval: label count edited in the config", lambda w: ["eval", "--adapter", w.damaged(
        "labels", edit('"positive"', '"positive", "neutral"')), "--data", DEMO], says=("does not match its config",)),
    Case("eval: empty inference.safetensors", lambda w: ["eval", "--adapter", w.damaged(
        "empty", lambda f: (f / "inference.safetensors").write_bytes(b"")), "--data", DEMO], says=("damaged",)),
    Case("eval: incomplete ptune_config.json", lambda w: ["eval", "--adapter", w.damaged(
        "partial", lambda f: (f / "ptune_config.json").write_text('{"format_version": 2}')), "--data", DEMO],
         says=("missing",)),
    Case("eval: virtual-token count edited in the config", lambda w: ["eval", "--adapter", w.damaged(
        "tokens", edit('"num_virtual_tokens": 4', '"num_virtual_tokens": 9')), "--data", DEMO],
         says=("does not match its config",)),
    Case("eval: not an adapter folder", lambda w: ["eval", "--adapter", w.model, "--data", DEMO], says=("is not a ptune adapter",)),
    Case("eval: header-only data", lambda w: ["eval", "--adapter", w.run, "--data", w.file("header.tsv", "sentence\tlabel\n")],
         says=("has no examples",)),
    Case("eval: `--batch-size 0`", lambda w: ["eval", "--adapter", w.run, "--data", DEMO, "--batch-size", "0"],
         says=("batch_size=0",)),
    Case("eval: `--json` onto the data file it reads, with `--overwrite`",
         lambda w: ["eval", "--adapter", w.run, "--data", w.file("d/dev.tsv", "sentence\tlabel\ngreat\tpositive\n"),
                    "--json", w.root / "d" / "dev.tsv", "--overwrite"], says=("is an input of this command",),
         kept=lambda w: w.root / "d" / "dev.tsv"),
    Case("eval: `--json` onto the adapter's own config, even with `--overwrite`",
         lambda w: ["eval", "--adapter", w.run, "--data", DEMO, "--json", w.run / "ptune_config.json", "--overwrite"],
         says=("whose files ptune manages",), kept=lambda w: w.run),
    Case("eval: `--compare-base --base-train-samples -5`",
         lambda w: ["eval", "--adapter", w.run, "--data", DEMO, "--compare-base", "--base-train-samples", "-5"],
         says=("base-train-samples",)),
    Case("eval: `--json - | head -1` (the reader goes away)", lambda w: ["eval", "--adapter", w.run, "--data", DEMO,
                                                                          "--json", "-"], exit=0, pipe=" | head -1 > /dev/null"),
    # ---- ptune predict -------------------------------------------------------------------------
    Case("predict: no input", lambda w: ["predict", "--adapter", w.run], says=("nothing to predict",)),
    Case("predict: `--file` that does not exist", lambda w: ["predict", "--adapter", w.run, "--file", w.root / "nope.txt"],
         says=("no such file",)),
    Case("predict: non-UTF-8 stdin", lambda w: ["predict", "--adapter", w.run, "-"], stdin=b"caf\xe9\n", says=("not UTF-8",)),
    Case("predict: non-UTF-8 `--file`", lambda w: ["predict", "--adapter", w.run, "--file", w.file("latin1.txt", b"caf\xe9\n")],
         says=("not UTF-8",)),
    Case("predict: `--output` in a missing folder", lambda w: ["predict", "--adapter", w.run, "great", "--output",
                                                               w.root / "no" / "x.jsonl"], says=("does not exist",)),
    Case("predict: `--batch-size 0`", lambda w: ["predict", "--adapter", w.run, "great", "--batch-size", "0"],
         says=("batch_size=0",)),
    Case("predict: a backbone of another hidden size with `--allow-backbone-mismatch`",
         lambda w: ["predict", "--adapter", w.run, "great", "--model", wider(w), "--allow-backbone-mismatch"],
         says=("does not match its config",)),
    Case("predict: `--output` onto its own `--file`, with `--overwrite`",
         lambda w: ["predict", "--adapter", w.run, "--file", w.file("texts.txt", "great\nawful\n"), "--output",
                    w.root / "texts.txt", "--overwrite"], says=("is an input of this command",), kept=lambda w: w.root / "texts.txt"),
    Case("predict: `--output` onto an existing file", lambda w: ["predict", "--adapter", w.run, "great", "--output",
                                                                 w.file("existing.jsonl", "keep me\n")], says=("the file exists",),
         kept=lambda w: w.root / "existing.jsonl"),
    # ---- ptune multitask -----------------------------------------------------------------------
    Case("multitask: `--temperature nan`", lambda w: ["multitask", "--task", f"a=classification:{DEMO}", "--task",
                                                      f"b=classification:{DEMO}", "--temperature", "nan", "--output",
                                                      w.root / "mt"], says=("temperature=nan",)),
    Case("multitask: `--task sst2=classification` (no data)", lambda w: ["multitask", "--task", "sst2=classification",
                                                                         "--output", w.root / "mt"], says=("NAME=TYPE:DATA",)),
    Case("multitask: `--shared-encoder` with the embedding encoder",
         lambda w: ["multitask", "--task", f"a=classification:{DEMO}", "--task", f"b=classification:{DEMO}",
                    "--shared-encoder", "--output", w.root / "mt"], says=("shared",)),
    Case("multitask: `--spec` that is not JSON", lambda w: ["multitask", "--spec", w.file("latin1.txt", b"caf\xe9\n"),
                                                            "--output", w.root / "mt"], says=("latin1.txt",)),
    Case("multitask: two tasks of one name", lambda w: ["multitask", "--task", f"a=classification:{DEMO}", "--task",
                                                        f"a=classification:{DEMO}", "--output", w.root / "mt"],
         says=("must differ",)),
    # ---- ptune serve ---------------------------------------------------------------------------
    Case("serve: nothing to serve", lambda w: ["serve"], says=("nothing to serve",)),
    Case("serve: `--adapter sst2` (no folder)", lambda w: ["serve", "--adapter", "sst2"], says=("NAME=DIR",)),
    Case("serve: `--replicas 2` without `--backend ray`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--replicas", "2"],
         says=("Ray Serve settings; add --backend ray",)),
    Case("serve: `--backend ray --workers 2`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--backend", "ray",
                                                          "--workers", "2"], says=("use --replicas N",)),
    Case("compare `--protocol sst2-curve --data data/sst2` where there is no such folder",
         lambda w: ["compare", "--data", "data/sst2", "--protocol", "sst2-curve", "--output", w.root / "curve"],
         says=("data/sst2",)),
    Case("compare `--eval-repeats 0`", lambda w: ["compare", "--data", DEMO, "--eval-repeats", "0", "--output",
                                                  w.root / "grid"], says=("eval_repeats=0: expected >= 1",)),
    Case("serve: `--max-batch-size 0`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--max-batch-size", "0"],
         says=("max_batch_size=0",)),
    Case("serve: a task name with a slash", lambda w: ["serve", "--adapter", f"a/b={w.run}"], says=("a/b",)),
    Case("serve: `--port 70000`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--port", "70000"], says=("--port 70000",)),
    Case("serve: `--max-wait-ms nan`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--max-wait-ms", "nan"],
         says=("max_wait_ms=nan",)),
    Case("serve: an adapter of another backbone beside one of this backbone",
         lambda w: ["serve", "--adapter", f"sst2={w.run}", "--adapter", f"other={w.damaged('foreign', refingerprint)}"],
         says=("was trained on backbone", "weights sha256:0000")),
    Case("serve: `--workers 0`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--workers", "0"],
         says=("--workers 0",)),
    Case("serve: `--api-key-file` that is empty", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--api-key-file",
                                                           w.file("keys.txt", "# no keys yet\n")], says=("holds no keys",)),
    Case("serve: `--api-key-file` with a short key", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--api-key-file",
                                                              w.file("short.txt", "abc\n")], says=("shorter than 16",)),
    Case("serve: `--cors-origins example.com` (no scheme)",
         lambda w: ["serve", "--adapter", f"sst2={w.run}", "--cors-origins", "example.com"], says=("is not an origin",)),
    Case("serve: `--runtime onnx` given an adapter folder, not an export",
         lambda w: ["serve", "--runtime", "onnx", "--adapter", f"sst2={w.run}"],
         says=("an adapter folder, not an export", "--backbone-graph")),
    Case("serve: `--runtime onnx --precision bf16`",
         lambda w: ["serve", "--runtime", "onnx", "--precision", "bf16", "--adapter", f"sst2={w.run}"],
         says=("the ONNX runtime runs",)),
    Case("export: `--backbone-graph` into a folder of other files",
         lambda w: ["export", "--adapter", w.run, "--output", w.root / "e", "--backbone-graph",
                    w.file("notes/readme.txt", "mine\n").parent],
         says=("not a backbone graph folder",), kept=lambda w: w.root / "notes"),
    # ---- the third audit ------------------------------------------------------------------------
    Case("predict: `--output EXPORT/model.onnx --overwrite` (into the export it would read)",
         lambda w: ["predict", "--adapter", w.run, "great", "--output", fake_export(w) / "model.onnx", "--overwrite"],
         says=("whose files ptune manages",), kept=lambda w: fake_export(w)),
    Case("predict: an export whose model.onnx is truncated", lambda w: ["predict", "--adapter", fake_export(w), "great"],
         says=("model.onnx: damaged, ONNX Runtime cannot load it",)),
    Case("train: `--seed 99999999999999999999`", lambda w: w.train("--seed", "99999999999999999999"),
         says=("seed=99999999999999999999: expected 0 to 4294967295",)),
    Case("eval: `\"num_virtual_tokens\": \"20\"` in the config",
         lambda w: ["eval", "--adapter", w.damaged("tokens-text", edit_json(("ptuning", "num_virtual_tokens"), "20")),
                    "--data", DEMO], says=("num_virtual_tokens='20': expected a number, not str",)),
    Case("eval: `\"num_virtual_tokens\": true` in the config",
         lambda w: ["eval", "--adapter", w.damaged("tokens-bool", edit_json(("ptuning", "num_virtual_tokens"), True)),
                    "--data", DEMO], says=("num_virtual_tokens=True: expected a number, not bool",)),
    Case("predict: label names edited to `[0, null]`",
         lambda w: ["predict", "--adapter", w.damaged("labels-null", edit_json(("task", "label_names"), [0, None])),
                    "great"], says=("every label name must be a non-empty string",)),
    Case("predict: label names edited to `[\"a\", \"a\"]`",
         lambda w: ["predict", "--adapter", w.damaged("labels-twice", edit_json(("task", "label_names"), ["a", "a"])),
                    "great"], says=("label names must be distinct",)),
    Case("predict: an adapter whose head holds NaN", lambda w: ["predict", "--adapter", w.damaged("nan", nan_head), "great"],
         says=("hold NaN or infinite values",)),
    Case("predict: an adapter naming `/etc` as its backbone",
         lambda w: ["predict", "--adapter", w.damaged("etc", edit_json(("backbone", "name"), "/etc")), "great"],
         says=("names the local backbone '/etc'", "pass --model PATH")),
    Case("predict: an adapter naming `../../../../etc/passwd` as its backbone",
         lambda w: ["predict", "--adapter", w.damaged("passwd", edit_json(("backbone", "name"), "../../../../etc/passwd")),
                    "great"], says=("pass --model PATH",)),
    Case("train: `--text-column label --label-column label`", lambda w: w.train("--text-column", "label", "--label-column",
                                                                                "label"),
         says=("column 'label' is chosen as both the text and the label",)),
    Case("train: `--max-length 2`", lambda w: w.train("--max-length", "2"), says=("max_length=2: expected at least 3",)),
    Case("train: `--max-length 100000`", lambda w: w.train("--max-length", "100000"),
         says=("max_length=100000: this backbone reads at most",)),
    Case("predict: a file of text pairs for a single-text adapter",
         lambda w: ["predict", "--adapter", w.run, "--file",
                    w.file("pairs.tsv", "sentence1\tsentence2\na man sleeps\ta person rests\n")],
         says=("was trained on single texts, but input 1", "is a text pair")),
    Case("train: `--data ''`", lambda w: ["train", "--data", "", "--output", w.root / "new-run", *w.flags],
         says=("the data path is empty",)),
    Case("train: `--data FIFO`", lambda w: w.train(data=fifo(w)), says=("not a regular file",)),
    Case("train: a folder whose train.tsv is a folder", lambda w: w.train(data=folder_with(w, "dir-split", "folder")),
         says=("train.tsv: a folder, not a train file",)),
    Case("train: a folder whose train.tsv is a symlink loop", lambda w: w.train(data=folder_with(w, "loop-split", "loop")),
         says=("a symbolic link that leads nowhere",)),
    Case("predict: `--file DIRECTORY`", lambda w: ["predict", "--adapter", w.run, "--file", w.root],
         says=("a folder, not a text file",)),
    Case("predict: `--file /dev/zero`", lambda w: ["predict", "--adapter", w.run, "--file", "/dev/zero"],
         says=("not a regular file",)),
    Case("serve: `--workers 100000`", lambda w: ["serve", "--adapter", f"sst2={w.run}", "--workers", "100000"],
         says=("expected at most",)),
    Case("compare: `--seeds -1`", lambda w: ["compare", "--data", DEMO, "--seeds", "-1", "--output", w.root / "grid"],
         says=("--seeds '-1'",)),
    # ---- other commands ------------------------------------------------------------------------
    Case("bare `ptune` (prints the commands)", lambda w: [], exit=0),
    Case("compare: unknown method", lambda w: ["compare", "--data", DEMO, "--methods", "p-tune", "--output",
                                               w.root / "grid"], says=("p-tune",)),
    Case("train: `--report-to wandb` without wandb installed", lambda w: w.train("--report-to", "wandb"),
         says=("wandb",)),
    Case("advise: `--model-size 0`", lambda w: ["advise", "--task", "ner", "--model-size", "0", "--train-size", "10"],
         says=("model",)),
]


def edit_json(keys: tuple, value) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "ptune_config.json"
        config = json.loads(path.read_text())
        target = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        path.write_text(json.dumps(config))
    return change


def nan_head(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "inference.safetensors")
    name = next(k for k in tensors if k.startswith("head.") and k.endswith("weight"))
    tensors[name][0, 0] = float("nan")
    save_file(tensors, folder / "inference.safetensors")


def fake_export(w: Workspace) -> Path:
    """An export folder whose model.onnx was cut short (a copy interrupted)."""
    folder = w.root / "export"
    if not folder.exists():
        folder.mkdir()
        shutil.copy(w.model / "tokenizer.json", folder / "tokenizer.json")
        (folder / "model.onnx").write_bytes(b"\x08\x07truncated")
        (folder / "ptune_export.json").write_text(json.dumps({
            "task": "classification", "label_names": ["negative", "positive"], "max_text_length": 32,
            "inputs": ["input_ids", "attention_mask", "token_type_ids"], "input_form": "text"}))
    return folder


def fifo(w: Workspace) -> Path:
    import os

    path = w.root / "fifo.tsv"
    if not path.exists():
        os.mkfifo(path)
    return path


def folder_with(w: Workspace, name: str, kind: str) -> Path:
    """A data folder whose train.tsv is a folder, or a link to itself."""
    folder = w.root / name
    if not folder.exists():
        folder.mkdir()
        if kind == "folder":
            (folder / "train.tsv").mkdir()
        else:
            (folder / "train.tsv").symlink_to(folder / "train.tsv")
    return folder


def corrupt_checkpoint(folder: Path) -> None:
    last = folder / "checkpoints" / "last"
    last.mkdir(parents=True, exist_ok=True)
    (last / "state.json").write_text("{}")
    (last / "optimizer.pt").write_bytes(b"x")
    (last / "trainable.safetensors").write_bytes(b"x")


def wider(w: Workspace) -> Path:
    """The tiny backbone's tokenizer on a BERT of hidden size 48 instead of 32."""
    from transformers import AutoModel, BertConfig

    folder = w.root / "wider"
    if not folder.exists():
        shutil.copytree(w.model, folder, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
        vocab = len(vocabulary())
        AutoModel.from_config(BertConfig(vocab_size=vocab, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, max_position_embeddings=64)).save_pretrained(folder)
    return folder
