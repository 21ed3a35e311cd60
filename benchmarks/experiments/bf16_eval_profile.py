"""Where ptune's bf16 eval time goes: a torch profile of one pass over the SST-2 dev set with a
trained adapter (prompt table, bf16, length-sorted batches of 64), and the rate of the Linear
matmuls (aten::addmm) against the machine's bf16 matmul ceiling.

    python benchmarks/bf16_eval_profile.py runs/sst2-16k > benchmarks/results/bf16-eval-profile.log
"""
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from ptune.data import load_examples, tokenize
from ptune.lab.flops import ptuning_flops
from ptune.inference.predictor import Predictor
from ptune.lab.speed import matmul_gflops
from ptune.engine.batched import predict_logits

torch.set_num_threads(2)
predictor = Predictor(sys.argv[1] if len(sys.argv) > 1 else "runs/sst2-16k", precision="bf16")
features = tokenize(load_examples("../shared/data/sst2", split="dev"), tokenizer=predictor.tokenizer,
                    max_length=predictor.model.max_text_length(), labels=None)
kwargs = {"batch_size": 64, "pad_token_id": predictor.tokenizer.pad_token_id, "bf16": True}
predict_logits(predictor.model, features, **kwargs)  # warm-up
with profile(activities=[ProfilerActivity.CPU]) as prof:
    predict_logits(predictor.model, features, **kwargs)
events = prof.key_averages()
print(events.table(sort_by="self_cpu_time_total", row_limit=12))
total = sum(e.self_cpu_time_total for e in events) / 1e6
addmm = next(e for e in events if e.key == "aten::addmm").self_cpu_time_total / 1e6
config, k = predictor.model.backbone.config, predictor.model.num_virtual_tokens
lengths = sorted((len(f["input_ids"]) for f in features), reverse=True)
tokens = sum(max(lengths[i : i + 64]) * len(lengths[i : i + 64]) + k * len(lengths[i : i + 64])
             for i in range(0, len(lengths), 64))
linear_flops = 2 * tokens * config.num_hidden_layers * (4 * config.hidden_size**2
                                                         + 2 * config.hidden_size * config.intermediate_size)
ceiling = matmul_gflops(torch.bfloat16)
forward = ptuning_flops(config, text_lengths=lengths, num_virtual_tokens=k)["forward"]  # padding left out
print(f"dev: {len(lengths)} sentences, {sum(lengths) / len(lengths):.1f} word pieces + {k} virtual tokens, "
      f"{forward / len(lengths) / 1e9:.2f} GFLOP each; the profiled pass ran {forward / total / 1e9:.0f} GFLOP/s, "
      f"{100 * forward / total / 1e9 / ceiling:.0f}% of the bf16 ceiling")
print(f"addmm: {addmm:.2f} s of {total:.2f} s profiled ({100 * addmm / total:.0f}%); "
      f"Linear FLOPs {linear_flops / 1e9:.0f} G -> {linear_flops / addmm / 1e9:.0f} GFLOP/s, "
      f"{100 * linear_flops / addmm / 1e9 / ceiling:.0f}% of the bf16 ceiling ({ceiling:.0f} GFLOP/s)")
