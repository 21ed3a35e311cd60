"""Ad-hoc check behind BENCHMARKS.md (speed, accuracy condition): how far apart are SDPA and eager
attention in fp32 on one trained adapter? Same 8 random batches of 32 SST-2 training sentences (with
padding), same dropout masks: logits and the prompt encoder's gradients.

    python benchmarks/fp32_sdpa_vs_eager.py runs/sst2-16k > benchmarks/results/fp32-sdpa-vs-eager.log
"""
import random, sys, torch
torch.set_num_threads(2)
from ptune.engine.model import load_adapter
from ptune.data import LabelSet, load_examples, tokenize
from ptune.data.transforms import collate

model, tokenizer, _ = load_adapter(sys.argv[1] if len(sys.argv) > 1 else "runs/sst2-16k", with_encoder=True)
train = load_examples("../shared/data/sst2", split="train")
random.Random(5).shuffle(train)
features = tokenize(train[:256], tokenizer=tokenizer, max_length=66, labels=LabelSet.from_examples(train[:256]))
batches = [collate(features[i : i + 32], pad_token_id=tokenizer.pad_token_id) for i in range(0, 256, 32)]
model.train()


def run(attention: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    model.backbone.set_attn_implementation(attention)
    out = []
    for i, batch in enumerate(batches):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(i)
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        torch.nn.functional.cross_entropy(logits, batch["labels"]).backward()
        out.append((logits.detach(), torch.cat([p.grad.flatten() for p in model.encoder.parameters()])))
    return out


logit_gaps, gradient_gaps = [], []
for (sdpa_logits, sdpa_grad), (eager_logits, eager_grad) in zip(run("sdpa"), run("eager")):
    logit_gaps.append((sdpa_logits - eager_logits).abs().max().item())
    gradient_gaps.append(((sdpa_grad - eager_grad).norm() / sdpa_grad.norm()).item())
print(f"fp32, SDPA vs eager over {len(batches)} batches: logits differ by at most {max(logit_gaps):.1e}; "
      f"encoder gradients by {min(gradient_gaps):.1e}-{max(gradient_gaps):.1e} (relative)")
