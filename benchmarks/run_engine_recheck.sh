#!/usr/bin/env bash
# Seed 0 of sst2-, conll- and rte-minilm through the engine, with `ptune` meaning the resolved
# default (deep prompts), beside the committed `ptune[injection=deep]` cells of the grids made
# before the engine (benchmarks/results/compare-*-minilm). Resumable (finished cells are skipped).
#   bash benchmarks/run_engine_recheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
D=../shared/data
R=benchmarks/results/engine-recheck
$PTUNE compare --protocol sst2-minilm --data $D/sst2 --methods ptune --seeds 0 --output $R/sst2-minilm --no-plots
$PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods ptune --seeds 0 --output $R/conll-minilm --no-plots
$PTUNE compare --protocol rte-minilm --data $D/rte --methods ptune --seeds 0 --output $R/rte-minilm --no-plots
# The same cells on the code before the engine (commit 3a462c0, where `ptune` still meant input-level
# prompts, so the deep default is named), on this machine and in the same precision: an A/B of the
# engine change itself, apart from the machine and precision of the committed grids.
BEFORE=${BEFORE:-/tmp/ptune-before-engine}
[ -d "$BEFORE" ] || git worktree add -q "$BEFORE" 3a462c0
PYTHONPATH="$BEFORE/src" .venv/bin/python -m ptune.cli compare --protocol sst2-minilm --data $D/sst2 \
    --methods "ptune[injection=deep]" --seeds 0 --output $R/before-sst2-minilm --no-plots
PYTHONPATH="$BEFORE/src" .venv/bin/python -m ptune.cli compare --protocol conll-minilm --data $D/conll2003 \
    --methods "ptune[injection=deep]" --seeds 0 --output $R/before-conll-minilm --no-plots
