#!/usr/bin/env bash
# What the small-data NER start (layer choice + probe head) costs with the probe fits' BLAS on two
# threads (OpenBLAS's default on 2 cores: the code before ptune.training.head_probe.one_blas_thread)
# and on one (the code now). Two checkouts of ptune side by side, run alternately, the same command:
#   bash benchmarks/run_start_threads.sh BEFORE_SRC AFTER_SRC
# BEFORE_SRC/AFTER_SRC are the `src` folders of the two checkouts. Writes one line per run to
# benchmarks/results/start-threads/runs.jsonl (start seconds, probe-fit seconds, the dev F1).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1; AFTER=$2
OUT=benchmarks/results/start-threads/runs.jsonl
TMP=$(mktemp -d)
python3 - "$TMP/dev.txt" <<'P'
import sys
t = open('../shared/data/conll2003/dev.txt').read().strip().split("\n\n")[:200]
open(sys.argv[1], 'w').write("\n\n".join(t) + "\n")
P
for n in 150 300; do
  for side in before after; do
    src=$BEFORE; [ $side = after ] && src=$AFTER
    rm -rf "$TMP/run"
    start=$(date +%s.%N)
    PYTHONPATH=$src HF_HUB_OFFLINE=1 .venv/bin/python -m ptune.cli.main train --task ner \
      --data ../shared/data/conll2003/train.txt --dev-data "$TMP/dev.txt" --output "$TMP/run" \
      --max-train-samples $n --epochs 2 --no-progress > /dev/null 2>&1
    end=$(date +%s.%N)
    python3 - "$TMP/run/metrics.json" $side $n $start $end "$(git -C $src/.. rev-parse --short HEAD)" >> $OUT <<'P'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"side": sys.argv[2], "train_rows": int(sys.argv[3]), "code": sys.argv[6],
                  "wall_seconds": round(float(sys.argv[5]) - float(sys.argv[4]), 1),
                  "start_seconds": round(m["start"]["seconds"], 1),
                  "probe_fit_seconds": round(m["start"]["head"]["seconds"], 1),
                  "layer": m["start"].get("layer", {}).get("layer"),
                  "dev_f1": round(m["best_dev"]["f1"], 4)}))
P
  done
done
rm -rf "$TMP"
