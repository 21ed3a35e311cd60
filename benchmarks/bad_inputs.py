"""Regenerates docs/bad-inputs.md from the tests: runs tests/test_bad_inputs.py (every case of
tests/bad_inputs.py through the real `ptune` command, and the server's bad requests) with
PTUNE_WRITE_BAD_INPUTS=1, which writes the table of what each case printed.

    python benchmarks/bad_inputs.py            # about five minutes on 2 cores
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_bad_inputs.py", "-p", "no:cacheprovider"],
                          cwd=ROOT, env={**os.environ, "PTUNE_WRITE_BAD_INPUTS": "1"})
    if done.returncode == 0:
        print(f"wrote {ROOT / 'docs' / 'bad-inputs.md'}")
    sys.exit(done.returncode)
