#!/usr/bin/env bash
# The deep-prompt recipe's ablation on the small-data curves (../shared/BENCHMARK.md's conll-curve and
# sst2-curve: nested subsets per seed, batch 16, max(100 steps, 4 epochs), the last step scored once
# on the full dev split). Each option is one method string beside the default deep prompt, all at
# the deep rate chosen on held-out training rows for the curve (benchmarks/results/curves/*-rates.json):
#   encoder_init=text   the prompt rows start as the frozen backbone's own keys/values of training tokens
#   head_init=probe     the head starts as the logistic regression fitted on what it reads (LP-FT)
# The default deep prompt's cells and the other methods' are the curve's own (copied from
# benchmarks/results/curves, same protocol and settings), so the tables set every option beside them.
# Resumable: finished cells are skipped.
#   nohup nice -n 19 bash benchmarks/run_recipe.sh > /tmp/recipe.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=.venv/bin/ptune
R=benchmarks/results/recipe
C=benchmarks/results/curves
mkdir -p $R
seed_cells() {  # the curve's finished cells of a size -> the recipe grid of that size
  mkdir -p "$R/$1/cells" && cp -n "$C/$1/cells/"*.json "$R/$1/cells/" 2>/dev/null
  cp -n "$C/$1/protocol.json" "$R/$1/" 2>/dev/null
}
variants() {  # $1: the deep rate
  local base="injection=deep;lr=$1;head_lr=$1"
  echo "ptune[$base;encoder_init=text;head_init=probe],ptune[$base;head_init=probe],ptune[$base;encoder_init=text]"
}
for size in 50 200; do
  seed_cells conll2003-n$size
  $PTUNE compare --protocol conll-curve --data ../shared/data/conll2003 --train-sizes $size --no-plots --eval-repeats 1 \
    --output $R --methods "$(variants 0.05)"
done
for size in 32 128; do
  seed_cells sst2-n$size
  $PTUNE compare --protocol sst2-curve --data ../shared/data/sst2 --train-sizes $size --no-plots --eval-repeats 1 \
    --output $R --methods "$(variants 0.09)"
done
