#!/usr/bin/env bash
# Choosing ptune's defaults (injection, learning rate, prompt length) without looking at any dev
# split: every grid here trains on the training file less its last N rows and scores on those N
# rows (--validation-from-train). Seed 0. Resumable: finished cells are skipped on a re-run.
# The choices it led to are in src/ptune/defaults.py; the table in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
OUT=benchmarks/results/tune
export PTUNE_THREADS=2
PTUNE=.venv/bin/ptune
# NER, deep prompts: learning rate, then prompt length
$PTUNE compare --data $DATA/conll2003 --protocol conll-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/conll-deep --no-plots --methods \
  "ptune[injection=deep;lr=5e-3;head_lr=5e-3],ptune[injection=deep;lr=1e-2;head_lr=1e-2],ptune[injection=deep;lr=3e-2;head_lr=3e-2],ptune[injection=deep;lr=1e-2;head_lr=1e-2;num_virtual_tokens=50],ptune[injection=deep;lr=1e-2;head_lr=1e-2;num_virtual_tokens=10],ptune[injection=deep;lr=5e-2;head_lr=5e-2],ptune[injection=deep;lr=1e-1;head_lr=1e-1],ptune[injection=deep;lr=5e-2;head_lr=5e-2;num_virtual_tokens=50]"
# classification, deep prompts: learning rate on SST-2 and RTE
$PTUNE compare --data $DATA/sst2 --protocol sst2-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/sst2-deep --no-plots --methods \
  "ptune[injection=deep;lr=5e-3;head_lr=5e-3],ptune[injection=deep;lr=1e-2;head_lr=1e-2],ptune[injection=deep;lr=3e-2;head_lr=3e-2],ptune[injection=deep;lr=5e-2;head_lr=5e-2]"
$PTUNE compare --data $DATA/rte --protocol rte-minilm --validation-from-train 400 --seeds 0 \
  --output $OUT/rte-deep --no-plots --methods \
  "ptune[injection=deep;lr=5e-3;head_lr=5e-3],ptune[injection=deep;lr=1e-2;head_lr=1e-2],ptune[injection=deep;lr=3e-2;head_lr=3e-2]"
# input-level prompts on the same held-out rows: which injection each task gets by default
$PTUNE compare --data $DATA/conll2003 --protocol conll-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/conll-shallow --no-plots --methods "ptune[injection=input;lr=1e-2;head_lr=1e-2]"
$PTUNE compare --data $DATA/sst2 --protocol sst2-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/sst2-deep --no-plots --methods "ptune[injection=input;lr=5e-3;head_lr=5e-3]"
$PTUNE compare --data $DATA/rte --protocol rte-minilm --validation-from-train 400 --seeds 0 \
  --output $OUT/rte-deep --no-plots --methods "ptune[injection=input;lr=5e-3;head_lr=5e-3]"
# deep prompts from an MLP encoder (the shared-vs-separate encoder comparison of
# benchmarks/run_multitask.sh uses this encoder): its learning rate per task, on held-out rows
$PTUNE compare --data $DATA/sst2 --protocol sst2-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/sst2-deep-mlp --no-plots --methods \
  "ptune[injection=deep;encoder=mlp;lr=1e-4;head_lr=1e-4],ptune[injection=deep;encoder=mlp;lr=3e-4;head_lr=3e-4],ptune[injection=deep;encoder=mlp;lr=1e-3;head_lr=1e-3],ptune[injection=deep;encoder=mlp;lr=5e-3;head_lr=5e-3],ptune[injection=deep;encoder=mlp;lr=2e-2;head_lr=2e-2]"
$PTUNE compare --data $DATA/conll2003 --protocol conll-minilm --validation-from-train 2000 --seeds 0 \
  --output $OUT/conll-deep-mlp --no-plots --methods \
  "ptune[injection=deep;encoder=mlp;lr=1e-4;head_lr=1e-4],ptune[injection=deep;encoder=mlp;lr=3e-4;head_lr=3e-4],ptune[injection=deep;encoder=mlp;lr=1e-3;head_lr=1e-3],ptune[injection=deep;encoder=mlp;lr=5e-3;head_lr=5e-3],ptune[injection=deep;encoder=mlp;lr=2e-2;head_lr=2e-2]"
