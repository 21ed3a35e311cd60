#!/usr/bin/env bash
# ../shared/BENCHMARK.md's fewshot suite (src/ptune/lab/compare/curve.py, protocol `fewshot`): K rows
# per class drawn per seed (nested across K), seeds 0-4, batch 16, max(100 steps, 4 epochs) of the
# K x classes rows, no dev set in training, the last step scored once on dev (SST-2, RTE) or on the
# standard test split (CR, TREC, which have no dev split).
# Methods, one setting each for every task and K (what a user gets without tuning):
#   ptune                                        ptune train's default for the data (deep prompts, lr 3e-2)
#   peft-lora[lr=0.0015], full-ft[lr=5e-05]      their small-data rates chosen on held-out SST-2 rows
#                                                (benchmarks/results/curves/sst2-rates.json)
#   logistic-probe                               closed form, C by cross-validation on the training rows
#   setfit                                       the setfit package, its documented defaults
# Resumable: finished cells are skipped. K is given per run (default 16) so the suite grows by K;
# SEEDS, TASKS and METHODS narrow a run (the committed cells say which ran).
#   nohup nice -n 19 bash benchmarks/run_fewshot.sh 16 > /tmp/fewshot.log 2>&1 &
#   SEEDS=0,1,2 TASKS="sst2 cr" METHODS="ptune,setfit,peft-lora[lr=0.0015],logistic-probe" bash benchmarks/run_fewshot.sh 16
set -uo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2 HF_HUB_OFFLINE=1
PTUNE=.venv/bin/ptune
R=benchmarks/results/fewshot
K=${1:-16}
SEEDS=${SEEDS:-0,1,2,3,4}
TASKS=${TASKS:-sst2 cr trec rte}
METHODS=${METHODS:-"ptune,setfit,peft-lora[lr=0.0015],logistic-probe,full-ft[lr=5e-05]"}
# Transfer (SPoT-style): CR's prompt and head started from a deep SST-2 adapter (4,000 SST-2 rows, one
# epoch, the defaults; benchmarks/results/transfer/sst2-4000 records its command)
TRANSFER="ptune[init_from=benchmarks/results/transfer/sst2-4000]"
for task in $TASKS; do
  extra=""; [ $task = cr ] && extra=",$TRANSFER"
  $PTUNE compare --protocol fewshot --data ../shared/data/$task --train-sizes $K --eval-repeats 1 --no-plots \
    --output $R --seeds "$SEEDS" --methods "$METHODS$extra"
done
