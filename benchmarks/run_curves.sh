#!/usr/bin/env bash
# Learning curves under ../shared/BENCHMARK.md's sst2-curve and conll-curve protocols (see
# src/ptune/lab/compare/curve.py): training subsets of 32, 128, 512 and 2,048 SST-2 sentences and
# 50, 200 and 1,000 CoNLL sentences (the first n of random.Random(seed).shuffle, so one seed's
# subsets are nested), seeds 0-4, batch 16, max(100 steps, 4 epochs) capped at 1,000, no checkpoint
# selection (the last step is scored on the full dev split, evaluated once).
# Each method runs at a small-data rate chosen on held-out training rows (benchmarks/curve_lrs.py),
# never on dev. SST-2 n = 32-512 also has every method at its default rate beside it; the longer
# cells (SST-2 n = 2,048, all of CoNLL) run each method once, at its chosen rate. Cells run one at
# a time (two grids at once on 2 cores oversubscribe the threads and slow both).
# Resumable: finished cells are skipped, so run it again after an interruption.
#   nohup nice -n 19 bash benchmarks/run_curves.sh > /tmp/curves.log 2>&1 &
set -uo pipefail                  # a failing grid must not stop the ones after it
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
LRS=benchmarks/curve_lrs.py
R=benchmarks/results/curves
SST2=../shared/data/sst2
CONLL=../shared/data/conll2003

# SST-2, n = 32-512: every method at its default rate (and the logistic probe), then at its chosen rate
$PTUNE compare --protocol sst2-curve --data $SST2 --train-sizes 32,128 --no-plots --output $R
# The cloze cells of sst2-n32 and sst2-n128 (the embeddings scorer for backbones without an MLM
# head, measured below the linear head and then left out of ptune) were made by commit 7171c6a's
# code, with --methods "ptune[injection=deep;head=cloze;cloze_scorer=embeddings;label_words=0=terrible,1=great]".
.venv/bin/python $LRS choose
.venv/bin/python $LRS apply --sizes 32,128
$PTUNE compare --protocol sst2-curve --data $SST2 --train-sizes 512 --no-plots --output $R
.venv/bin/python $LRS apply --sizes 512
# CoNLL: its own held-out rate choice, then each size at the chosen rates
.venv/bin/python $LRS choose --curve conll-curve
for size in 50 200 1000; do
  .venv/bin/python $LRS apply --curve conll-curve --only-chosen --sizes $size
done
# SST-2, n = 2,048 (512 steps a cell): the chosen rates only
.venv/bin/python $LRS apply --only-chosen --sizes 2048
$PTUNE compare --protocol conll-curve --data $CONLL --output $R --report-only
$PTUNE compare --protocol sst2-curve --data $SST2 --output $R --report-only
