"""Seconds per test module, from a pytest `--durations=0` log: what tests/conftest.py orders the
modules by (longest first), so that the two xdist workers finish together.

    python -m pytest -q -n auto --dist loadfile --durations=0 > LOG
    python benchmarks/experiments/module_seconds.py LOG > tests/module_seconds.json

Sums every phase (setup, call, teardown) of every test of a module, rounded to the second."""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+?\.py)::")


def module_seconds(lines) -> dict[str, int]:
    seconds: dict[str, float] = defaultdict(float)
    for line in lines:
        match = LINE.match(line.strip())
        if match:
            seconds[match.group(3)] += float(match.group(1))
    return {module: round(total) for module, total in sorted(seconds.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    with open(sys.argv[1]) as log:
        print(json.dumps(module_seconds(log), indent=1))
