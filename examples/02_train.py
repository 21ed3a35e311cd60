"""Stage 2 of 3 — training: a sentiment adapter on the bundled sample, then a look at what was saved.

    .venv/bin/python examples/02_train.py [OUTPUT_FOLDER]      (default: runs/example-sentiment)
About a minute on 2 CPU cores.
"""
import json
import sys
from pathlib import Path

from ptune import DataConfig, PTuningConfig, RunConfig, TrainConfig, train
from ptune.demo import SAMPLE

output = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/example-sentiment")
run = RunConfig(
    model=None,  # the bundled MiniLM
    data=DataConfig(train=str(SAMPLE)),  # 233 training and 60 dev sentences shipped with ptune
    output=str(output),
    ptuning=PTuningConfig(num_virtual_tokens=20, max_length=64),
    training=TrainConfig(epochs=4, batch_size=16, eval_every=15),
)
metrics = train(run, overwrite=True, show_progress=False)
print(f"best dev accuracy {metrics['best_dev']['accuracy']:.3f} at step {metrics['best_step']} of {metrics['steps_total']}; "
      f"{metrics['parameters']['trainable']:,} trainable parameters")
for path in sorted(output.iterdir()):
    size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
    print(f"  {path.name:<28} {size:>10,} bytes")
print("the adapter's record:", json.dumps(json.loads((output / "ptune_config.json").read_text())["dev_metrics"]))
