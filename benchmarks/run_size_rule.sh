#!/usr/bin/env bash
# Where the NER recipe stops paying: conll-curve (nested subsets per seed, batch 16, max(100 steps,
# 4 epochs) capped at 1,000, the last step scored once on the full dev split) at 2,000 and 4,000
# training sentences, between the sizes measured before (1,000: recipe ahead by 0.6; all 14,041: behind
# by 1.3). The recipe and the plain start (random head on the last layer) at the same prompt rate,
# seeds 0-2. Resumable: finished cells are skipped.
#   nohup nice -n 19 bash benchmarks/run_size_rule.sh > /tmp/size-rule.log 2>&1 &
# While the source changes, run a fixed commit: PYTHONPATH=<worktree at that commit>/src (each cell
# records the commit that ran it under "code").
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=${PTUNE_THREADS:-2} HF_HUB_OFFLINE=1
PTUNE=.venv/bin/ptune
OUT=benchmarks/results/recipe/size-rule
RECIPE="ptune[injection=deep;lr=0.05;head_init=probe;choose_layer=true]"
PLAIN="ptune[injection=deep;lr=0.05;head_init=random;choose_layer=false]"
for n in 4000 2000; do
  $PTUNE compare --protocol conll-curve --data ../shared/data/conll2003 --train-sizes $n --no-plots \
    --eval-repeats 1 --output $OUT --methods "$RECIPE,$PLAIN" --seeds 0,1,2
done
