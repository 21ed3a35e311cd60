#!/usr/bin/env bash
# The grids of the task and injection axes quoted in BENCHMARKS.md (seeds 0, 1, 2), in order.
# Resumable: finished cells are skipped, so run it again after an interruption. The defaults these
# grids use were chosen first, off dev, by benchmarks/tune_defaults.sh.
#   nohup bash benchmarks/run_tasks.sh > benchmarks/results/tasks.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
D=../shared/data
R=benchmarks/results
PART=${1:-all}
if [[ $PART == baselines || $PART == all ]]; then
  # conll-minilm: the methods whose settings do not depend on ptune's defaults
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods "peft-lora,full-ft,linear-probe" --seeds 0,1,2 \
    --output $R/compare-conll-minilm --no-plots
fi
if [[ $PART == ptune || $PART == all ]]; then
  # ptune with its measured defaults (deep prompts; 50 positions and lr 5e-2 for NER, 20 and 3e-2 for classification)
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods "ptune[injection=deep]" --seeds 0,1,2 \
    --output $R/compare-conll-minilm --no-plots
  $PTUNE compare --protocol sst2-minilm --data $D/sst2 --methods "ptune[injection=deep]" --seeds 0,1,2 \
    --output $R/compare-sst2-minilm
  $PTUNE compare --protocol rte-minilm --data $D/rte --methods "ptune[injection=deep]" --seeds 0,1,2 \
    --output $R/compare-rte-minilm
  # the reshaped core against the sst2-minilm rows measured before it (same configuration, new code)
  $PTUNE compare --protocol sst2-minilm --data $D/sst2 --methods "ptune[injection=input]" --seeds 0,1,2 \
    --output $R/recheck-sst2-minilm
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods "ptune[injection=input]" --seeds 0,1,2 \
    --output $R/compare-conll-minilm --no-plots
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --report-only --seeds 0,1,2 --output $R/compare-conll-minilm \
    --methods "ptune[injection=deep],ptune[injection=input],peft-lora,full-ft,linear-probe"
fi
