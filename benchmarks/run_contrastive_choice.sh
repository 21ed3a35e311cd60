#!/usr/bin/env bash
# Choosing the pair objective (TrainConfig.contrastive_steps, ptune.training.contrastive) on held-out
# training rows, never on a scoring split: the fewshot protocol at K = 16 per class, seeds 0-2, scored
# on the last 1,000 rows of each training file (--validation-from-train), outside every draw.
# The plain start (`ptune` when this ran, before the pair objective became the default for small sets of
# three labels or more), the probe head alone, and the pair objective (200 and 500 steps) with the probe
# head and with a random one; on SST-2 and CR only the first three (TASKS="sst2 cr" METHODS_OVERRIDE=...).
# Resumable: finished cells are skipped.
#   nohup nice -n 19 bash benchmarks/run_contrastive_choice.sh > /tmp/contrastive-choice.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=${PTUNE:-.venv/bin/ptune}
R=benchmarks/results/contrastive-choice
METHODS="ptune[contrastive_steps=0;head_init=random],ptune[head_init=probe],ptune[contrastive_steps=200;head_init=probe],ptune[contrastive_steps=500;head_init=probe],ptune[contrastive_steps=200]"
for task in ${TASKS:-trec sst2 cr}; do
  $PTUNE compare --protocol fewshot --data ../shared/data/$task --train-sizes ${K:-16} --validation-from-train 1000 \
    --seeds "${SEEDS:-0,1,2}" --eval-repeats 1 --no-plots --output $R --methods "${METHODS_OVERRIDE:-$METHODS}"
done
