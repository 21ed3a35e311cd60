"""Rows of the serve-mixed workload (first 300 requests) run in mixed-task batches of 32 against
each row alone (Predictor): the largest logit difference and the decoded answers that differ.

    python benchmarks/experiments/mixed_batch_logits.py     # printed: rows 1361, worst 1.6e-05, 0 differing
"""
import sys, json, random
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src")); sys.path.insert(0, str(ROOT / "benchmarks"))
from pathlib import Path
from serve_mixed import workload, MIX
from ptune.engine.bank import AdapterBank
from ptune.inference.predictor import Predictor
from ptune.serve.agreement import answers_agree
import torch
torch.manual_seed(0)
adapters = {n: ROOT / "benchmarks/results/multitask/joint-seed0" / n for n, _ in MIX}
reqs = workload(Path("/work/shared/data"), 300, 0)
bank = AdapterBank.from_adapters(adapters)
preds = {n: Predictor(p) for n, p in adapters.items()}
# mixed rows: 32 at a time in arrival order
rows, meta = [], []
for i, r in enumerate(reqs):
    entry = bank.get(r["task"])
    ex = bank.examples(entry, r["inputs"])
    fs = bank.features(entry, ex)
    for j, (e, f) in enumerate(zip(ex, fs)):
        rows.append((entry, f)); meta.append((i, j, e))
worst = 0.0; bad = 0
for s in range(0, len(rows), 32):
    chunk = rows[s:s+32]
    mixed = bank.run(chunk)
    for (entry, f), m, (i, j, e) in zip(chunk, mixed, meta[s:s+32]):
        alone = preds[reqs[i]["task"]].outputs([e])[0]
        d = (m - alone).abs().max().item(); worst = max(worst, d)
        a = bank.decode(entry, [m], [e], [f])[0]; b = preds[reqs[i]["task"]].predict([reqs[i]["inputs"][j] if isinstance(reqs[i]["inputs"][j], str) else tuple(reqs[i]["inputs"][j])])[0]
        if not answers_agree(a, b):
            bad += 1
            if bad <= 3: print("DIFF", reqs[i]["task"], d, json.dumps(a)[:300], "\n   ", json.dumps(b)[:300])
print("rows", len(rows), "worst logit diff", worst, "disagreements", bad)
