"""The walk of `ptune train`: which of ptune's files and rooms (top-level packages) run between the
command line and the first optimizer step, and how often each setting-filling function runs.

    PYTHONPATH=<a checkout>/src python benchmarks/experiments/train_walk.py OUT.json

Counts every call of the resolvers and the config checks, and the calls that filled something in.
Runs `ptune train` in this process on the bundled sentiment sample (16 rows, the bundled MiniLM)
under sys.setprofile, and stops recording at the first optimizer step."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

WATCHED = ("resolve", "resolve_training", "resolve_ptuning", "learning_rates_for", "__post_init__")
FILLERS = {"resolve_training": "training", "resolve_ptuning": "ptuning"}
"""Resolvers that return their argument unchanged when it is complete: a call that returns a new
config filled something in."""


def main(out: str) -> None:
    import ptune
    from ptune.cli.main import main as ptune_main

    package = Path(ptune.__file__).parent
    files: Counter = Counter()
    calls: Counter = Counter()
    state = {"recording": True}

    def profile(frame, event, arg):
        code = frame.f_code
        if event == "return" and state["recording"] and code.co_name in FILLERS:
            given = frame.f_locals.get(FILLERS[code.co_name])
            if arg is not given:  # it built a new config: it filled something in
                calls[f"{code.co_name} filled"] += 1
            return
        if event != "call" or not state["recording"]:
            return
        if code.co_name == "step" and "torch/optim" in code.co_filename:
            state["recording"] = False
            return
        if code.co_filename.startswith(str(package)):
            relative = str(Path(code.co_filename).relative_to(package))
            files[relative] += 1
            if code.co_name in WATCHED:
                owner = frame.f_locals.get("self")
                calls[f"{relative}:{code.co_name}" + (f"({type(owner).__name__})" if owner is not None else "")] += 1

    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "--output", str(Path(tmp) / "run"), "--max-train-samples", "16", "--epochs", "1",
                "--batch-size", "16", "--no-progress"]
        sys.setprofile(profile)
        try:
            ptune_main(argv)
        finally:
            sys.setprofile(None)
    source = package.parent.parent
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=source, capture_output=True,
                            text=True).stdout.strip()
    rooms = sorted({f.split("/")[0] if "/" in f else f for f in files})
    result = {"command": "ptune " + " ".join(argv[:1] + ["--max-train-samples", "16", "--epochs", "1",
                                                          "--batch-size", "16"]),
              "code": commit, "files": len(files), "rooms": rooms, "files_run": sorted(files),
              "setting_calls": dict(sorted(calls.items()))}
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("code", "files", "rooms", "setting_calls")}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
