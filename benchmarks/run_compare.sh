#!/usr/bin/env bash
# The table 6.1 / 6.2 grids and the speed rows quoted in BENCHMARKS.md, in priority order.
# Resumable: finished cells are skipped, so run it again after an interruption.
# These grids were made when `ptune` meant input-level prompts (the default until deep prompts
# measured better); their `ptune...` cells are input-level. To add seeds or rows to them now, name
# the injection: `ptune[injection=input]`, `ptune[injection=input;depth=2]`, ...
#   nohup bash benchmarks/run_compare.sh > benchmarks/results/compare.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
SST2=../shared/data/sst2
RTE=../shared/data/rte
R=benchmarks/results
METHODS="ptune,peft-ptuning,peft-prompt,peft-prefix,peft-lora,bitfit,full-ft,linear-probe"
# the speed study's reference rows: ptune in fp32; PEFT P-tuning in its own pipeline (fp32, random batches)
SPEED="ptune[precision=fp32],peft-ptuning[precision=fp32;group_by_length=false]"
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "$METHODS,$SPEED" --seeds 0 --output $R/compare-sst2-minilm
$PTUNE ablate --protocol sst2-minilm --data $SST2 --seeds 0 --output $R/ablate-sst2-minilm
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "$METHODS" --seeds 0,1,2 --output $R/compare-sst2-minilm
$PTUNE compare --protocol rte-minilm --data $RTE --methods "$METHODS" --seeds 0 --output $R/compare-rte-minilm
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "$METHODS,$SPEED" --seeds 0,1,2 --output $R/compare-sst2-minilm
# the speed study's accuracy condition: bf16 against fp32 over ten seeds
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "ptune,ptune[precision=fp32]" --seeds 0,1,2,3,4,5,6,7,8,9 --output $R/bf16-vs-fp32-sst2-minilm
# bf16 with its last 20% of steps in fp32
$PTUNE compare --protocol sst2-minilm --data $SST2 --methods "ptune[fp32_finish=0.2]" --seeds 0,1,2,3,4 --output $R/bf16-fp32-finish-sst2-minilm
