"""Helpers shared by the test modules: the CLI in a subprocess, a tiny training run, the launcher
that kills a run mid-way, and a fake grid row."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import DEMO
from ptune.lab.compare.methods import parse_method

TRAIN_FLAGS = ["--epochs", "2", "--batch-size", "16", "--eval-every", "5", "--num-virtual-tokens", "4",
               "--lr", "1e-2", "--head-lr", "1e-2", "--no-progress"]


def ptune(*args, env=None, launcher=None):
    command = (launcher or [sys.executable, "-m", "ptune.cli"]) + [str(a) for a in args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def ptune_here(*args):
    """`ptune ARGS` in this process (`ptune.cli.main`), answered like `ptune(...)`: a command that
    needs no signal, stdin or fresh process spends ~0.1 s here instead of ~5 s importing torch in a
    subprocess. SIGTERM's handler is put back afterwards (training installs its own); warnings
    logged reach stderr as Python's last-resort handler writes them in a process of its own."""
    import contextlib
    import io
    import logging
    import signal

    from ptune.cli import main

    out, err = io.StringIO(), io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)
    said = logging.StreamHandler(err)
    said.setLevel(logging.WARNING)
    logging.getLogger("ptune").addHandler(said)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as stop:  # argparse's own errors and --help
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        signal.signal(signal.SIGTERM, handler)
        logging.getLogger("ptune").removeHandler(said)
    return subprocess.CompletedProcess(["ptune", *map(str, args)], code, out.getvalue(), err.getvalue())


KILL_AFTER = Path(__file__).parent / "kill_after.py"


def killed_after(step: int) -> list[str]:
    """A launcher for `ptune` that SIGKILLs itself after `step` optimizer steps (tests/kill_after.py)."""
    return [sys.executable, str(KILL_AFTER), str(step)]


def train(model_dir, output, *extra, env=None, launcher=None):
    return ptune("train", "--model", model_dir, "--data", DEMO, "--output", output, *TRAIN_FLAGS, *extra, env=env,
                 launcher=launcher)


def train_here(model_dir, output, *extra):
    """`train` in this process (see `ptune_here`)."""
    return ptune_here("train", "--model", model_dir, "--data", DEMO, "--output", output, *TRAIN_FLAGS, *extra)


def metrics(output: Path) -> dict:
    return json.loads((output / "metrics.json").read_text())


def losses(output: Path) -> list:
    return [(e["step"], e["loss"]) for e in map(json.loads, (output / "train_log.jsonl").read_text().splitlines()) if "loss" in e]


def fake_row(method, seed, accuracy=0.8, **extra):
    return {"method": method, "base_method": method.split("[")[0], "label": method, "seed": seed,
            "settings": parse_method(method).settings, "dev_accuracy": accuracy, "dev_macro_f1": accuracy - 0.01,
            "train_seconds": 10.0, "train_samples_per_s": 100.0, "eval_samples_per_s": 300.0,
            "trainable_parameters": 1000, "total_parameters": 100000, "trainable_percent": 1.0,
            "inference_parameters": 500, "inference_bytes": 2048, "peak_rss_mb": 900.0,
            "learning_rates": {"lr": 5e-3, "head_lr": 5e-3}, "loss_curve": [[10, 0.7], [20, 0.5]], **extra}


def assert_head_is_sklearns_fit(model, features, *, inputs, targets, C: float, pad_token_id: int) -> None:
    """`model`'s probabilities on `features` equal scikit-learn's LogisticRegression fitted at `C` on the
    standardised head inputs (what ptune.training.head_probe writes into the head)."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(inputs)
    reference = LogisticRegression(C=C, max_iter=5000).fit(scaler.transform(inputs), targets)
    batch = model.task.collate(features, pad_token_id=pad_token_id)
    model.eval()
    with torch.no_grad():
        ours = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).softmax(-1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(scaler.transform(inputs)), atol=1e-4)
