#!/usr/bin/env bash
# The control for the recipe at full data: conll-minilm (all 14,041 sentences, one epoch, batch 32)
# with the plain start (random head on the last layer, prompt rate 5e-2) on this machine, in the
# recipe's grid (benchmarks/results/recipe/conll-minilm); precision auto is fp32 on a CPU without native bf16. The plain cells committed before ran in bf16
# on another machine; the recipe's ran in fp32 here. Resumable.
#   nohup nice -n 19 bash benchmarks/run_plain_full_fp32.sh > /tmp/plain-full.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=${PTUNE_THREADS:-2} HF_HUB_OFFLINE=1
.venv/bin/ptune compare --protocol conll-minilm --data ../shared/data/conll2003 --seeds 0,1,2 --eval-repeats 1 \
  --no-plots --output benchmarks/results/recipe/conll-minilm \
  --methods "ptune[injection=deep;lr=0.05;head_init=random;choose_layer=false]"
