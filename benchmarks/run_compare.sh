#!/usr/bin/env bash
# The table 6.1 / 6.2 grids and the speed rows quoted in BENCHMARKS.md. Resumable: finished
# cells are skipped, so run it again after an interruption.
#   nohup bash benchmarks/run_compare.sh > benchmarks/results/compare.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
SST2=../shared/data/sst2
RTE=../shared/data/rte
R=benchmarks/results
# table 6.1 plus the speed rows (ptune fp32; PEFT P-tuning fp32 with random batches, its own pipeline)
METHODS="ptune,peft-ptuning,peft-prompt,peft-prefix,peft-lora,bitfit,full-ft,linear-probe"
METHODS="$METHODS,ptune[precision=fp32],peft-ptuning[precision=fp32;group_by_length=false]"
# seed 0 of both tables first, so a short session still yields both
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "$METHODS" --seeds 0 --output $R/compare-sst2-minilm --no-plots
$PTUNE ablate --protocol sst2-minilm --data $SST2 --seeds 0 --output $R/ablate-sst2-minilm
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "$METHODS" --seeds 0,1,2 --output $R/compare-sst2-minilm
$PTUNE compare --protocol rte-minilm --data $RTE --seeds 0 --output $R/compare-rte-minilm
