#!/usr/bin/env bash
# Joint training of SST-2 + RTE + CoNLL-2003 on one frozen MiniLM (seeds 0, 1, 2), quoted in
# BENCHMARKS.md beside the single-task rows of the same protocols (sst2-, rte-, conll-minilm):
# each task keeps its protocol's data, epochs, batch size and length, and proportional sampling
# gives it its single-task number of steps in expectation. Every task is evaluated once, at the
# end (no best-of-many selection on dev).
#   joint        ptune's defaults (deep prompts, per-task embedding tables), separate per task
#   mlp-separate deep prompts from an MLP encoder per task, lr 1e-4 (the best of 1e-4 to 2e-2 on
#                held-out SST-2 rows, benchmarks/tune_defaults.sh; at 1e-3 and above it collapses to
#                the majority class), 600 steps: a third of the budget, same for both arms
#   mlp-shared   the same with one MLP shared by the three tasks ("universal prompt encoder")
# Resumable: runs with a metrics.json are skipped.
#   nohup bash benchmarks/run_multitask.sh > benchmarks/results/multitask.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PTUNE=.venv/bin/ptune
R=benchmarks/results/multitask
mkdir -p $R
run() {  # name spec seed [flags]
  local out=$R/$1-seed$3
  if [[ -f $out/metrics.json ]]; then echo "done: $out"; return; fi
  rm -rf "$out"
  echo "== $out"
  $PTUNE multitask --spec benchmarks/multitask/$2 --seed $3 --output "$out" "${@:4}"
}
for seed in 0 1 2; do run joint sst2-rte-conll.json $seed; done
for seed in 0; do
  run mlp-separate sst2-rte-conll-mlp.json $seed --steps 600
  run mlp-shared sst2-rte-conll-mlp.json $seed --steps 600 --shared-encoder
done
