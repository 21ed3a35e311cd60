from ptune.data.batching import shard, sorted_batches, training_batches
from ptune.data.examples import Example, LabelSet
from ptune.data.sources import LoadReport, load_examples
from ptune.data.transforms import collate, tokenize

__all__ = [
    "Example", "LabelSet", "LoadReport", "load_examples", "tokenize", "collate",
    "training_batches", "sorted_batches", "shard",
]
