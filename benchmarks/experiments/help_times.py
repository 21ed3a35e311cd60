"""`ptune <command> --help`: wall seconds (median of 5 fresh processes) and whether torch,
transformers or the lab were imported.

    python benchmarks/experiments/help_times.py OUT.json"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

COMMANDS = ["", "train", "multitask", "eval", "predict", "export", "serve", "push", "demo", "bench", "compare",
            "ablate", "advise"]
PROBE = ("import sys\nfrom ptune.cli import main\ntry:\n    main([*sys.argv[1:], '--help'])\nexcept SystemExit:\n    pass\n"
         "print('LOADED', sorted(m for m in ('torch', 'transformers', 'ptune.lab') if m in sys.modules), file=sys.stderr)\n")


def main(out: str) -> None:
    rows = {}
    for command in COMMANDS:
        times, loaded = [], None
        for _ in range(5):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", PROBE, *command.split()], capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")][-1][7:]
        rows[command or "(none)"] = {"median_s": round(statistics.median(times), 3), "imported": loaded}
        print(f"ptune {command} --help: {rows[command or '(none)']}")
    with open(out, "w") as handle:
        json.dump({"python": sys.version.split()[0], "commands": rows}, handle, indent=2)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
