"""Ad-hoc check behind BENCHMARKS.md (speed, accuracy condition): does bf16 attention cost ptune
accuracy? Trains ptune on protocol sst2-minilm (bf16, in-process cells) with attention scores,
softmax and mixing computed in fp32 through a registered transformers attention function.

    python benchmarks/bf16_fp32_attention.py 0,1,2,3,4 > benchmarks/results/bf16-fp32-attention.log
"""
import json, sys, torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, eager_mask
torch.set_num_threads(2)

def eager_fp32(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    dtype = query.dtype
    with torch.autocast(query.device.type, enabled=False):
        q, k, v = query.float(), key.float(), value.float()
        scaling = scaling if scaling is not None else q.size(-1) ** -0.5
        w = torch.matmul(q, k.transpose(2, 3)) * scaling
        if attention_mask is not None:
            w = w + attention_mask.float()
        w = torch.nn.functional.softmax(w, dim=-1)
        w = torch.nn.functional.dropout(w, p=dropout, training=module.training)
        out = torch.matmul(w, v).transpose(1, 2).contiguous()
    return out.to(dtype), w

AttentionInterface.register("eager_fp32", eager_fp32)
# Without a registered mask builder transformers passes attention_mask=None to a custom attention
# function, and padded positions would be attended to.
AttentionMaskInterface.register("eager_fp32", eager_mask)
import ptune.training.loop as loop
def use_fp32_attention(model):
    for m in model.modules():
        if isinstance(m, PreTrainedModel):
            m.set_attn_implementation("eager_fp32")
    return 1
loop.prefer_eager_attention = use_fp32_attention
from ptune.lab.compare.cell import run_cell
from ptune.lab.compare.protocol import ProtocolConfig
protocol = ProtocolConfig.preset("sst2-minilm", data="../shared/data/sst2")
for seed in map(int, sys.argv[1].split(",")):
    row = run_cell(protocol, "ptune", seed)
    print(json.dumps({"seed": seed, "acc": row["dev_accuracy"], "train_sps": row["train_samples_per_s"]}), flush=True)
