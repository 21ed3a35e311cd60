#!/usr/bin/env bash
# The default `ptune train` (no injection, learning-rate or prompt-length flags), as README's quick
# starts run it, on sst2-minilm's budget (seeds 0-2), conll-minilm (seeds 0-2) and rte-minilm
# (seeds 0-2). Resumable: a finished run (metrics.json present) is skipped; an interrupted one resumes.
#   bash benchmarks/run_default_train.sh && python benchmarks/default_train_summary.py
set -u
cd "$(dirname "$0")/.."
OUT=benchmarks/results/default-train
DATA=../shared/data
mkdir -p "$OUT"
run() {  # name, then the flags
    local name=$1; shift
    local dir="$OUT/$name"
    if [ -f "$dir/metrics.json" ]; then echo "skip $name (done)"; return; fi
    local mode=()
    if [ -d "$dir/checkpoints/last" ]; then mode=(--resume); elif [ -d "$dir" ]; then mode=(--overwrite); fi
    echo "run $name"
    .venv/bin/ptune train "$@" --output "$dir" --no-progress "${mode[@]}" > "$OUT/$name.log" 2>&1 || echo "FAILED $name"
}
for seed in 0 1 2; do
    run "sst2-seed$seed" --data "$DATA/sst2" --max-train-samples 16000 --max-length 66 --epochs 1 --batch-size 32 \
        --eval-every 100 --seed "$seed"
done
for seed in 0 1 2; do
    run "conll-seed$seed" --task ner --data "$DATA/conll2003" --seed "$seed"
done
# RTE's rows are sentence pairs: the default deep prompt is made by the MLP encoder (ptune.defaults.PAIR_ENCODERS);
# the free-row run of the code before it is in $OUT/before-pair-encoder/
for seed in 0 1 2; do
    run "rte-seed$seed" --data "$DATA/rte" --epochs 5 --batch-size 16 --seed "$seed"
done
