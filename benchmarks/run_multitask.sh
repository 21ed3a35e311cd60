#!/usr/bin/env bash
# Joint training of SST-2 + RTE + CoNLL-2003 on one frozen MiniLM (seeds 0, 1, 2), quoted in
# BENCHMARKS.md beside the single-task rows of the same protocols (sst2-, rte-, conll-minilm):
# each task keeps its protocol's data, epochs, batch size and length, and proportional sampling
# gives it its single-task number of steps in expectation. Every task is evaluated once, at the
# end (no best-of-many selection on dev).
#   joint        ptune's defaults (deep prompts, per-task embedding tables), separate per task
#   mlp-separate deep prompts from an MLP encoder per task (lr 5e-3 for all tasks, not tuned)
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
for seed in 0 1 2; do
  run mlp-separate sst2-rte-conll-mlp.json $seed
  run mlp-shared sst2-rte-conll-mlp.json $seed --shared-encoder
done
