#!/usr/bin/env bash
# The grids of the task and injection axes quoted in BENCHMARKS.md (seeds 0, 1, 2), in order.
# Resumable: finished cells are skipped, so run it again after an interruption.
#   nohup bash benchmarks/run_tasks.sh > benchmarks/results/tasks.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
D=../shared/data
R=benchmarks/results
PART=${1:-all}
if [[ $PART == baselines || $PART == all ]]; then
  # one more tuning cell (off dev): the longer prompt at the best learning rate
  $PTUNE compare --data $D/conll2003 --protocol conll-minilm --validation-from-train 2000 --seeds 0 \
    --output $R/tune/conll-deep --no-plots --methods "ptune[injection=deep;lr=5e-2;head_lr=5e-2;num_virtual_tokens=50]"
  # input-level prompts on the same held-out rows, to choose each task's default injection
  $PTUNE compare --data $D/conll2003 --protocol conll-minilm --validation-from-train 2000 --seeds 0 \
    --output $R/tune/conll-shallow --no-plots --methods "ptune[injection=input;lr=1e-2;head_lr=1e-2]"
  $PTUNE compare --data $D/sst2 --protocol sst2-minilm --validation-from-train 2000 --seeds 0 \
    --output $R/tune/sst2-deep --no-plots --methods "ptune[injection=input;lr=5e-3;head_lr=5e-3],ptune[injection=deep;lr=5e-2;head_lr=5e-2]"
  $PTUNE compare --data $D/rte --protocol rte-minilm --validation-from-train 400 --seeds 0 \
    --output $R/tune/rte-deep --no-plots --methods "ptune[injection=input;lr=5e-3;head_lr=5e-3]"
  # conll-minilm: the methods whose settings do not depend on ptune's defaults
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods "peft-lora,full-ft,linear-probe" --seeds 0,1,2 \
    --output $R/compare-conll-minilm --no-plots
fi
if [[ $PART == ptune || $PART == all ]]; then
  # ptune with its defaults per task and injection (chosen by benchmarks/tune_defaults.sh, off dev)
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --methods "ptune[injection=deep],ptune[injection=input]" \
    --seeds 0,1,2 --output $R/compare-conll-minilm --no-plots
  $PTUNE compare --protocol sst2-minilm --data $D/sst2 --methods "ptune[injection=deep]" --seeds 0,1,2 \
    --output $R/compare-sst2-minilm
  $PTUNE compare --protocol rte-minilm --data $D/rte --methods "ptune[injection=deep]" --seeds 0,1,2 \
    --output $R/compare-rte-minilm
  # the reshaped core against the sst2-minilm rows measured before it (same method, new code)
  $PTUNE compare --protocol sst2-minilm --data $D/sst2 --methods "ptune[injection=input]" --seeds 0,1,2 \
    --output $R/recheck-sst2-minilm
  $PTUNE compare --protocol conll-minilm --data $D/conll2003 --report-only --seeds 0,1,2 --output $R/compare-conll-minilm \
    --methods "ptune[injection=deep],ptune[injection=input],peft-lora,full-ft,linear-probe"
fi
