#!/usr/bin/env bash
# The table 6.1 / 6.2 grids quoted in BENCHMARKS.md. Resumable: finished cells are skipped, so
# run it again after an interruption.
#   nohup bash benchmarks/run_compare.sh > benchmarks/results/compare.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
export PTUNE_THREADS=2            # the protocols fix 2 threads
PTUNE=.venv/bin/ptune
SST2=../shared/data/sst2
RTE=../shared/data/rte
R=benchmarks/results
# table 6.1 and the ablation on seed 0 first, so a short session still yields both tables
$PTUNE compare --protocol sst2-minilm --data $SST2 --seeds 0 --output $R/compare-sst2-minilm --no-plots
$PTUNE ablate --protocol sst2-minilm --data $SST2 --seeds 0 --output $R/ablate-sst2-minilm --no-plots
$PTUNE compare --protocol sst2-minilm --data $SST2 --seeds 0,1,2 --output $R/compare-sst2-minilm
$PTUNE ablate --protocol sst2-minilm --data $SST2 --seeds 0 --output $R/ablate-sst2-minilm
$PTUNE compare --protocol rte-minilm --data $RTE --seeds 0 --output $R/compare-rte-minilm
