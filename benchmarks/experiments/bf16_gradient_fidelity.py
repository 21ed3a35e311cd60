"""Ad-hoc check behind BENCHMARKS.md (speed, accuracy condition): how far are the prompt encoder's
gradients under bf16 autocast from the fp32 ones? Same batches (256 SST-2 training sentences,
length-sorted batches of 32), same dropout masks, at the initial prompt and at a trained one.

    python benchmarks/bf16_gradient_fidelity.py runs/sst2-16k > benchmarks/results/bf16-gradient-fidelity.log
"""
import random, sys, torch
torch.set_num_threads(2)
from ptune.engine.model import load_adapter
from ptune.engine.backbone import load_backbone, prefer_eager_attention
from ptune.config import PTuningConfig
from ptune.data import LabelSet, load_examples, tokenize
from ptune.data.transforms import collate
from ptune.engine.model import PTuningModel

trained, tokenizer, _ = load_adapter(sys.argv[1] if len(sys.argv) > 1 else "runs/sst2-16k", with_encoder=True)
initial = PTuningModel(load_backbone(None)[0], PTuningConfig(max_length=66), num_labels=2, seed=0)
train = load_examples("../shared/data/sst2", split="train")
random.Random(5).shuffle(train)
features = sorted(tokenize(train[:256], tokenizer=tokenizer, max_length=66, labels=LabelSet.from_examples(train[:256])),
                  key=lambda f: len(f["input_ids"]))
batches = [collate(features[i : i + 32], pad_token_id=tokenizer.pad_token_id) for i in range(0, 256, 32)]


def gradients(model, bf16: bool, seed_offset: int = 0) -> list[torch.Tensor]:
    """Per batch: the encoder's gradient, flattened (dropout seeded per batch, as in training)."""
    out = []
    for i, batch in enumerate(batches):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(i + seed_offset)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"])
        loss.backward()
        out.append(torch.cat([p.grad.flatten() for p in model.encoder.parameters()]))
    return out


for name, model in (("initial prompt", initial), ("trained prompt (sst2-16k)", trained)):
    model.train()
    prefer_eager_attention(model)  # what bf16 training on CPU uses; fp32 side too, so only precision differs
    reference, bf16 = gradients(model, False), gradients(model, True)
    cosine = [torch.nn.functional.cosine_similarity(a, r, dim=0).item() for a, r in zip(bf16, reference)]
    error = [((a - r).norm() / r.norm()).item() for a, r in zip(bf16, reference)]
    norm = [(a.norm() / r.norm()).item() for a, r in zip(bf16, reference)]
    print(f"{name}: cosine(bf16, fp32) min {min(cosine):.5f} mean {sum(cosine) / len(cosine):.5f}; "
          f"relative error mean {sum(error) / len(error):.4f} max {max(error):.4f}; "
          f"norm ratio {min(norm):.4f}-{max(norm):.4f} over {len(batches)} batches")
    other_masks = gradients(model, False, seed_offset=1000)  # for scale: fp32, other dropout masks
    noise = [((a - r).norm() / r.norm()).item() for a, r in zip(other_masks, reference)]
    print(f"{name}: for scale, fp32 with other dropout masks differs by {sum(noise) / len(noise):.4f} (relative, mean)")
