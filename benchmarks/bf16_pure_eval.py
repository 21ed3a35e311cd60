"""Ad-hoc check behind BENCHMARKS.md (speed, eval): would storing the whole backbone in bf16 (layer
norms and embeddings too, no autocast: no activation casts, but bf16 softmax, GELU and layer norm
kernels) make ptune's eval faster than bf16 autocast? One trained adapter, the SST-2 dev set at
batch 64, sorted batches, interleaved timed rounds; agreement with fp32 predictions.

    python benchmarks/bf16_pure_eval.py runs/sst2-16k > benchmarks/results/bf16-pure-eval.log
"""
import statistics, sys, time, torch
torch.set_num_threads(2)
from ptune.data import load_examples, tokenize
from ptune.inference import Predictor
from ptune.training.evaluate import predict_logits

adapter = sys.argv[1] if len(sys.argv) > 1 else "runs/sst2-16k"
fp32, autocast, pure = (Predictor(adapter, precision=p) for p in ("fp32", "bf16", "bf16"))
pure.model.backbone.to(torch.bfloat16)  # the head and the prompt table stay fp32
features = tokenize(load_examples("../shared/data/sst2", split="dev"), tokenizer=fp32.tokenizer,
                    max_length=fp32.model.max_text_length(), labels=None)
kwargs = {"batch_size": 64, "pad_token_id": fp32.tokenizer.pad_token_id}
rows = {"bf16 autocast (ptune's bf16 path)": (autocast.model, True), "whole backbone in bf16": (pure.model, False)}
reference = predict_logits(fp32.model, features, **kwargs).argmax(-1)
for name, (model, bf16) in rows.items():
    agreement = (predict_logits(model, features, bf16=bf16, **kwargs).argmax(-1) == reference).float().mean()
    print(f"{name}: agreement with fp32 {100 * agreement:.1f}%")
times = {name: [] for name in rows}
for _ in range(7):
    for name, (model, bf16) in rows.items():
        started = time.perf_counter()
        predict_logits(model, features, bf16=bf16, **kwargs)
        times[name].append(len(features) / (time.perf_counter() - started))
for name, rates in times.items():
    print(f"{name}: median {statistics.median(rates):.1f} samples/s (rounds: {', '.join(f'{r:.0f}' for r in rates)})")
