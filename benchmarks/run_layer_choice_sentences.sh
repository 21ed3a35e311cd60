#!/usr/bin/env bash
# Choosing where a sentence classifier's head reads (TrainConfig.choose_layer: the layer whose
# cross-validated probe scores best on the training rows, the NER recipe's layer choice) on held-out
# training rows, never on a scoring split: the fewshot protocol at K = 16 per class, seeds 0-2, scored
# on the last 1,000 rows of each training file, beside the cells of run_contrastive_choice.sh (same
# folder, same protocol). benchmarks/experiments/sentence_layer_probe.py asked the question first:
# frozen probes on layer 5 (TREC) and 4 (CR) scored 5-8 points above the last layer's.
# Resumable: finished cells are skipped.
#   nohup nice -n 5 bash benchmarks/run_layer_choice_sentences.sh > /tmp/layer-choice.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=${PTUNE:-.venv/bin/ptune}
R=benchmarks/results/contrastive-choice
PAIRS="ptune[contrastive_steps=200;head_init=probe;choose_layer=true]"
PLAIN="ptune[contrastive_steps=0;head_init=random;choose_layer=true],ptune[contrastive_steps=0;head_init=probe;choose_layer=true]"
for task in ${TASKS:-trec cr sst2}; do
  methods="$PLAIN"; [ $task = trec ] && methods="$PAIRS,$PLAIN"
  $PTUNE compare --protocol fewshot --data ../shared/data/$task --train-sizes ${K:-16} --validation-from-train 1000 \
    --seeds "${SEEDS:-0,1,2}" --eval-repeats 1 --no-plots --output $R --methods "${METHODS_OVERRIDE:-$methods}"
done
