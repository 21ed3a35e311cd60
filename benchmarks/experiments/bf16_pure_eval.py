"""Ad-hoc check behind BENCHMARKS.md (speed, eval): bf16 eval from a prompt table with the whole
backbone stored in bf16 and no autocast (what `predict_logits` does now: no activation casts, but
bf16 softmax, GELU and layer norm kernels) against bf16 autocast with only the frozen Linear weights
stored in bf16 (what it did before). One trained adapter, the SST-2 dev set at batch 64, sorted
batches, interleaved timed rounds; agreement with fp32 predictions.

    python benchmarks/bf16_pure_eval.py runs/sst2-16k > benchmarks/results/bf16-pure-eval.log
"""
import statistics, sys, time, torch
torch.set_num_threads(2)
from ptune.engine.backbone import prefer_eager_attention
from ptune.data import load_examples, tokenize
from ptune.inference.predictor import Predictor
from ptune.engine.batched import predict_logits


class AutocastPath(torch.nn.Module):
    """The same model, seen without its prompt-table flag: predict_logits takes the autocast path."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, **inputs):
        return self.model(**inputs)


predictor = Predictor(sys.argv[1] if len(sys.argv) > 1 else "runs/sst2-16k")  # fp32 weights
features = tokenize(load_examples("../shared/data/sst2", split="dev"), tokenizer=predictor.tokenizer,
                    max_length=predictor.model.max_text_length(), labels=None)
kwargs = {"batch_size": 64, "pad_token_id": predictor.tokenizer.pad_token_id}
reference = predict_logits(predictor.model, features, **kwargs).argmax(-1)
prefer_eager_attention(predictor.model)  # as bf16 on CPU does
rows = {"bf16 autocast, frozen Linear weights in bf16": AutocastPath(predictor.model),
        "whole backbone in bf16, no autocast": predictor.model}
for name, model in rows.items():
    agreement = (predict_logits(model, features, bf16=True, **kwargs).argmax(-1) == reference).float().mean()
    print(f"{name}: agreement with fp32 {100 * agreement:.1f}%")
times = {name: [] for name in rows}
for _ in range(7):
    for name, model in rows.items():
        started = time.perf_counter()
        predict_logits(model, features, bf16=True, **kwargs)
        times[name].append(len(features) / (time.perf_counter() - started))
for name, rates in times.items():
    print(f"{name}: median {statistics.median(rates):.1f} samples/s (rounds: {', '.join(f'{r:.0f}' for r in rates)})")
