"""Ad-hoc control behind BENCHMARKS.md (speed, accuracy condition): how much does ptune's dev
accuracy move when fp32 training changes only its attention kernel (eager instead of SDPA, equal to
about 1e-6)? If that alone moved results by about a point, the bf16-vs-fp32 gap could be chance.
Protocol sst2-minilm, fp32, in-process cells.

    python benchmarks/fp32_eager_control.py 0,1,2,3,4 > benchmarks/results/fp32-eager-control.log
    python benchmarks/fp32_eager_control.py 5,6,7,8,9 > benchmarks/results/fp32-eager-control-seeds5-9.log
"""
import json, sys, torch
torch.set_num_threads(2)
import ptune.training.loop as loop
from ptune.engine.backbone import prefer_eager_attention

fit = loop.fit


def fit_with_eager_attention(model, **kwargs):
    assert prefer_eager_attention(model) == 1
    return fit(model, **kwargs)


loop.fit = fit_with_eager_attention
from ptune.lab.compare.cell import run_cell
from ptune.lab.compare.protocol import ProtocolConfig
protocol = ProtocolConfig.preset("sst2-minilm", data="../shared/data/sst2")
for seed in map(int, sys.argv[1].split(",")):
    row = run_cell(protocol, "ptune[precision=fp32]", seed)
    print(json.dumps({"seed": seed, "acc": row["dev_accuracy"], "train_sps": row["train_samples_per_s"]}), flush=True)
