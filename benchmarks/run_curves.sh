#!/usr/bin/env bash
# Learning curves under ../shared/BENCHMARK.md's sst2-curve and conll-curve protocols: training
# subsets of 32, 128, 512 and 2,048 SST-2 sentences and 50, 200 and 1,000 CoNLL sentences (the
# first n of random.Random(seed).shuffle, so one seed's subsets are nested), seeds 0-4, batch 16,
# max(100 steps, 4 epochs) capped at 1,000, no checkpoint selection (the last step is scored on the
# full dev split, evaluated once). This pass uses each method's current default learning rate (chosen on held-out
# training rows of the full-data protocols); small-data rates are chosen in a later pass.
# Resumable: finished cells are skipped, so run it again after an interruption.
#   nohup bash benchmarks/run_curves.sh > benchmarks/results/curves.log 2>&1 &
set -uo pipefail                  # a failing grid must not stop the ones after it
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
R=benchmarks/results/curves
mkdir -p "$R"
CLASSIFY="ptune[injection=deep],ptune[injection=input],peft-ptuning,peft-lora,bitfit,full-ft,linear-probe"
TAGS="ptune[injection=deep],ptune[injection=input],peft-ptuning,peft-lora,bitfit,full-ft,linear-probe"

steps_for() {  # n -> max(100, 4 epochs) steps of batch 16, capped at 1,000
    python3 -c "import math; n=$1; print(min(1000, max(100, 4 * math.ceil(n / 16))))"
}
epochs_for() {  # n -> the epochs that make those steps
    python3 -c "import math; print(repr($(steps_for "$1") / math.ceil($1 / 16)))"
}

for n in 32 128 512 2048; do
    $PTUNE compare --data ../shared/data/sst2 --train-size "$n" --epochs "$(epochs_for "$n")" --batch-size 16 \
        --eval-every "$(steps_for "$n")" --max-length 66 --seeds 0,1,2,3,4 --methods "$CLASSIFY" --no-plots \
        --output "$R/sst2-n$n"
done
for n in 50 200 1000; do
    $PTUNE compare --data ../shared/data/conll2003 --task token_classification --train-size "$n" \
        --epochs "$(epochs_for "$n")" --eval-every "$(steps_for "$n")" --batch-size 16 --max-length 128 \
        --seeds 0,1,2,3,4 --methods "$TAGS" --no-plots --output "$R/conll-n$n"
done
