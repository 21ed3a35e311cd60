"""The offline demo: bundled MiniLM backbone, bundled sentiment sample, a short report."""
from __future__ import annotations

import time
from pathlib import Path

from ptune.defaults import SAMPLE_BUDGET
from ptune.inference.evaluation import evaluate_adapter
from ptune.inference.predictor import Predictor
from ptune.settings import given_settings
from ptune.tasks import get_task
from ptune.training.run import DataConfig, RunConfig, train

SAMPLE = Path(__file__).parent / "resources"
EXAMPLES = [
    "The plot drags, and the jokes land with a thud.",
    "A warm, funny and surprisingly moving little film.",
    "Customer support never answered my emails.",
    "Best pizza I have had in years, and the staff were lovely.",
]


def run_demo(*, output: str, epochs: float = 8) -> dict:
    started = time.perf_counter()
    # the adapter's settings through the one resolver; the run decides training's once it has counted its rows
    ptuning, training = given_settings("classification", {**SAMPLE_BUDGET, "epochs": epochs, "num_virtual_tokens": 20,
                                                          "max_length": 64})
    run = RunConfig(model=None, data=DataConfig(train=str(SAMPLE)), output=output, ptuning=ptuning, training=training)
    print(f"ptune demo: P-tuning all-MiniLM-L6-v2 (bundled) on the bundled sentiment sample -> {output}")
    metrics = train(run, show_progress=True)
    report = evaluate_adapter(output, data=str(SAMPLE), compare_base=True)
    counts = metrics["parameters"]
    print("\n== dev set of the bundled sample ==")
    print(get_task(report["task"]).format_report(report["metrics"], report["label_names"]))
    base = report["base"]
    print(f"\nbase model (frozen backbone + linear head, no virtual tokens): accuracy {base['accuracy']:.4f}")
    print(f"P-tuning adds {100 * (report['metrics']['accuracy'] - base['accuracy']):+.1f} accuracy points")
    print(f"trainable parameters {counts['trainable']:,} of {counts['total']:,} ({metrics['trainable_percent']:.2f}%); "
          f"inference needs {counts['inference']:,} ({metrics['inference_bytes']:,} bytes on disk)")
    print("\n== predictions (prompt table only, no encoder at inference) ==")
    for text, prediction in zip(EXAMPLES, Predictor(output).predict(EXAMPLES)):
        print(f"{prediction['label']:>8}  {max(prediction['probabilities'].values()):.2f}  {text}")
    print(f"\ndone in {time.perf_counter() - started:.0f}s; adapter in {output}")
    return metrics
