"""Stage 1 of 3 — set-up: is everything here, and what does the frozen backbone look like?

Run from the project root after `make demo` or `make test` created .venv:
    .venv/bin/python examples/01_setup.py
Scripts rather than notebooks: they run unchanged in CI and in a terminal, and diff cleanly.
"""
import torch

import ptune
from ptune.engine.backbone import fingerprint, load_backbone
from ptune.config import PTuningConfig
from ptune.engine.model import PTuningModel
from ptune.runtime import resolve_precision

print(f"ptune {ptune.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"training precision on this machine: {'bf16' if resolve_precision('auto') == 'bf16' else 'fp32'}")

backbone, tokenizer = load_backbone(None)  # the bundled all-MiniLM-L6-v2: no network needed
config = backbone.config
print(f"backbone: {config.model_type}, {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
      f"{sum(p.numel() for p in backbone.parameters()):,} parameters, weights {fingerprint(backbone)[:23]}...")

for injection in ("input", "deep"):
    model = PTuningModel(backbone, PTuningConfig(injection=injection), num_labels=2)
    counts = model.parameter_counts()
    print(f"{injection:>5} prompts: k={model.num_virtual_tokens}, prompt rows of {model.prompt().shape[1]} numbers, "
          f"trainable {counts['trainable']:,} ({100 * counts['trainable'] / counts['total']:.2f}%), "
          f"served from {counts['inference']:,} numbers")

encoded = tokenizer(["ptune keeps the backbone frozen"], return_tensors="pt")
print("word pieces:", tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]))
