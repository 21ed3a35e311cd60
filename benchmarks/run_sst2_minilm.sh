#!/usr/bin/env bash
# The sst2-minilm runs quoted in BENCHMARKS.md. Resumable: finished cells are skipped.
#   nohup bash benchmarks/run_sst2_minilm.sh > benchmarks/results/sst2-minilm.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=benchmarks/results/sst2-minilm
# 1. the headline: ptune default vs PEFT P-tuning (lr 5e-3), same loop, same batches, seeds 0-2
$PY benchmarks/sst2_minilm.py --results $OUT --seeds 0,1,2 --methods ptune,peft-ptuning
# 2. ablations on seed 0: placement, pooling, encoders
$PY benchmarks/sst2_minilm.py --results $OUT --seeds 0 \
    --methods "ptune[placement=prefix],ptune[pooling=cls],ptune[residual=false;layer_norm=false],ptune-lstm,ptune-embedding,ptune[backbone_dropout=true]"
# 3. precision and batching: ptune fp32, PEFT with random batches (its own pipeline)
$PY benchmarks/sst2_minilm.py --results $OUT --seeds 0,1,2 \
    --methods "ptune[precision=fp32],peft-ptuning[group_by_length=false]"
