"""Partial depth (APT, LPT: prompts in some layers only) for the small-data sentence default, screened
before building it: the deep prompt of the layers outside [FROM, TO) is left out of attention for
the whole run (its rows stay in the adapter, untrained and unread), everything else is `ptune
train`'s default. The fewshot protocol at K per class, scored on the last 1,000 training rows
(--validation-from-train), never the test split; cells in
benchmarks/results/partial-depth/<task>-layers-<FROM>-<TO>/.
  python benchmarks/experiments/partial_depth.py trec 3 6 [--seeds 0,1,2] [--k 16]
Layers count from 0 (the first attention layer) to 6 (past the last) on the bundled MiniLM."""
import argparse
import sys
from contextlib import contextmanager

from ptune.cli.main import main as ptune_main
from ptune.injections import deep_attention

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("task", help="a folder of ../shared/data (sst2, cr, trec)")
parser.add_argument("first", type=int, help="first attention layer that keeps its prompt (0-based)")
parser.add_argument("stop", type=int, help="the layer after the last that keeps it")
parser.add_argument("--seeds", default="0")
parser.add_argument("--k", default="16")
args = parser.parse_args()
if not 0 <= args.first < args.stop:
    parser.error(f"layers {args.first}-{args.stop}: give FIRST < STOP, from 0 (e.g. 0 3: the lower half of 6 layers)")

original = deep_attention.prompts_in


@contextmanager
def some_layers(layers, deep, mask, *, heads):
    with original(layers, deep, mask, heads=heads):
        if deep is not None:
            for index, layer in enumerate(layers):
                if not args.first <= index < args.stop:
                    layer.ptune_prompt = None  # this layer attends to the text alone
        yield


deep_attention.prompts_in = some_layers
output = f"benchmarks/results/partial-depth/{args.task}-layers-{args.first}-{args.stop}"
sys.exit(ptune_main(["compare", "--protocol", "fewshot", "--data", f"../shared/data/{args.task}",
                     "--train-sizes", args.k, "--validation-from-train", "1000", "--seeds", args.seeds,
                     "--eval-repeats", "1", "--no-plots", "--in-process", "--output", output,
                     "--methods", "ptune"]))
