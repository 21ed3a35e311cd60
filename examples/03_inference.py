"""Stage 3 of 3 — inference: load the adapter from stage 2 and label new text.

    .venv/bin/python examples/03_inference.py [ADAPTER_FOLDER]   (default: runs/example-sentiment)
The prompt encoder never runs here: the adapter serves a fixed prompt table with its head.
"""
import sys
import time

from ptune import Predictor

adapter = sys.argv[1] if len(sys.argv) > 1 else "runs/example-sentiment"
predictor = Predictor(adapter)
texts = ["A warm, funny and surprisingly moving little film.",
         "The plot drags, and the jokes land with a thud.",
         "Customer support never answered my emails."]
started = time.perf_counter()
predictions = predictor.predict(texts)
elapsed = time.perf_counter() - started
for text, prediction in zip(texts, predictions):
    print(f"{prediction['label']:>8}  {max(prediction['probabilities'].values()):.2f}  {text}")
print(f"{len(texts)} texts in {elapsed * 1000:.0f} ms; encoder loaded: {predictor.model.encoder is not None}")
