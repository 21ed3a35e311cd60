"""A learned mix of every layer (ELMo's scalar mix: softmax weights over the embeddings and layers 1
to N, times one scale) as what the tagging head reads, screened before building it: the head is
`ptune train`'s linear head on the mix instead of on one layer; everything else is the default.
Scored on the last ROWS training sentences (--validation-from-train), never on dev; cells in
benchmarks/results/layer-mix/<protocol>-<mix|plain>/.
  python benchmarks/experiments/layer_mix.py conll-minilm mix [--seeds 0,1] [--rows 2000]
  python benchmarks/experiments/layer_mix.py conll-minilm plain        # the same run, one layer read
Full data only: on small sets ptune's start (the layer choice and probe head) reads one layer, which
the mix would bypass."""
import argparse
import sys

import torch
from torch import nn

from ptune.cli.main import main as ptune_main
from ptune.tasks import token_classification
from ptune.tasks.heads import LinearHead

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("protocol", choices=["conll-minilm"])
parser.add_argument("head", choices=["mix", "plain"])
parser.add_argument("--seeds", default="0")
parser.add_argument("--rows", default="2000", help="training rows held out and scored")
args = parser.parse_args()


class MixHead(LinearHead):
    """The linear head on softmax(w) . layers, scaled by gamma; w starts uniform, gamma at 1."""

    def __init__(self, hidden_size, num_labels, dropout, num_states=7):
        super().__init__(hidden_size, num_labels, dropout)
        self.mix = nn.Parameter(torch.zeros(num_states))
        self.scale = nn.Parameter(torch.ones(()))

    def init_weights(self, generator):
        with torch.no_grad():
            self.out.weight.normal_(0.0, 0.02, generator=generator)
            self.out.bias.zero_()

    def forward(self, output):
        layers = torch.stack([layer[:, output.text_index].float() for layer in output.layers])  # (L, b, s, h)
        if layers.shape[0] != self.mix.shape[0]:
            raise RuntimeError(f"{layers.shape[0]} states, the mix has {self.mix.shape[0]} weights")
        mixed = (self.mix.softmax(0)[:, None, None, None] * layers).sum(0) * self.scale
        return super().forward(mixed)


if args.head == "mix":
    task = token_classification.TokenClassificationTask
    task.build_head = lambda self, hidden_size, num_labels, config: MixHead(hidden_size, num_labels, config.head_dropout)
    task.logits = lambda self, head, output, config: head(output)

output = f"benchmarks/results/layer-mix/{args.protocol}-{args.head}"
command = ["compare", "--protocol", args.protocol, "--data", "../shared/data/conll2003",
           "--validation-from-train", args.rows, "--seeds", args.seeds, "--eval-repeats", "1", "--no-plots",
           "--in-process", "--output", output, "--methods", "ptune"]
sys.exit(ptune_main(command))
