"""Ad-hoc check behind BENCHMARKS.md (speed, eval): bf16 inference with eager vs SDPA attention on
one trained adapter, interleaved timed rounds.

    python benchmarks/bf16_inference_attention.py > benchmarks/results/bf16-inference-attention.log
"""

import time, statistics, torch
torch.set_num_threads(2)
from ptune.inference.predictor import Predictor
from ptune.data import load_examples
dev = load_examples("../shared/data/sst2", split="dev")
eager = Predictor("runs/sst2-16k", precision="bf16")
sdpa = Predictor("runs/sst2-16k", precision="bf16")
sdpa.model.backbone.set_attn_implementation("sdpa")
print(eager.model.backbone.config._attn_implementation, sdpa.model.backbone.config._attn_implementation)
a = eager.logits(dev); b = sdpa.logits(dev)
print("agree", (a.argmax(-1) == b.argmax(-1)).float().mean().item())
t = {"eager": [], "sdpa": []}
for _ in range(5):
    for k, p in (("eager", eager), ("sdpa", sdpa)):
        s = time.perf_counter(); p.logits(dev); t[k].append(time.perf_counter() - s)
for k, v in t.items(): print(k, f"{len(dev)/statistics.median(v):.1f}/s")
