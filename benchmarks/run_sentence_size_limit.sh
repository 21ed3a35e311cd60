#!/usr/bin/env bash
# Where the small-data sentence recipe (the layer choice + probe head) should stop: it is the default
# up to 100 training rows (ptune.defaults.RECIPE_MAX_TRAIN_ROWS), the most it was chosen on. Here it
# runs against the plain start above that: the fewshot protocol at K = 32 (TREC, 192 rows) and K = 64
# (SST-2 and CR, 128 rows; TREC, 384), seeds 0-2, scored on the last 1,000 training rows
# (--validation-from-train), never on a scoring split. Both settings are spelled out, so the cells
# mean the same whatever the default is. Resumable: finished cells are skipped.
#   nohup nice -n 5 bash benchmarks/run_sentence_size_limit.sh > /tmp/size-limit.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=${PTUNE:-.venv/bin/ptune}
METHODS="ptune[contrastive_steps=0;head_init=probe;choose_layer=true],ptune[contrastive_steps=0;head_init=random;choose_layer=false]"
run() {  # task K
  $PTUNE compare --protocol fewshot --data ../shared/data/$1 --train-sizes $2 --validation-from-train 1000 \
    --seeds "${SEEDS:-0,1,2}" --eval-repeats 1 --no-plots --output benchmarks/results/contrastive-choice --methods "$METHODS"
}
run trec 32
for task in ${TASKS_64:-trec cr sst2}; do run $task 64; done
