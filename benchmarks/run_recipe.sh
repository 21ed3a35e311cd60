#!/usr/bin/env bash
# The recipe on dev, after its choice on held-out rows (benchmarks/run_recipe_choice.sh):
# conll-curve (../shared/BENCHMARK.md: nested subsets per seed, batch 16, max(100 steps, 4 epochs),
# the last step scored once on the full dev split, seeds 0-4) with the token-classification default
# start, written out in full: the head on the layer cross-validated probes choose, started as that
# probe (head lr 1e-3), deep prompts at the curve's held-out rate 5e-2. Its cells join the curve's own
# grids (benchmarks/results/curves), beside every other method and the plain deep-prompt row
# (`ptune[injection=deep]`, measured before this start became the default: a random head on the last
# layer); `ptune advise` reads the curve. Then conll-minilm, seed 0, with today's defaults, against
# its committed plain-start cells. Resumable: finished cells are skipped.
#   nohup nice -n 19 bash benchmarks/run_recipe.sh > /tmp/recipe.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=.venv/bin/ptune
R=benchmarks/results/recipe
C=benchmarks/results/curves
RECIPE="ptune[injection=deep;lr=0.05;head_init=probe;choose_layer=true]"
conll_size() {  # size [seeds]
  $PTUNE compare --protocol conll-curve --data ../shared/data/conll2003 --train-sizes $1 --no-plots \
    --eval-repeats 1 --output $C --methods "$RECIPE" --seeds "${2:-0,1,2,3,4}"
}
conll_size 50
conll_size 200
$PTUNE compare --protocol conll-minilm --data ../shared/data/conll2003 --seeds 0 --eval-repeats 1 --no-plots \
  --output $R/conll-minilm --methods "$RECIPE"
conll_size 1000 0,1
# rte-minilm on dev with the recipe's start (the plain deep-prompt cells are in compare-rte-minilm)
$PTUNE compare --protocol rte-minilm --data ../shared/data/rte --seeds 0,1,2 --eval-repeats 1 --no-plots \
  --output benchmarks/results/compare-rte-minilm --methods "ptune[injection=deep;head_init=probe;choose_layer=true]"
