import json

import pytest

from ptune.data import Example, LabelSet, LoadReport, collate, load_examples, tokenize
from ptune.errors import DataError


def test_real_sst2_train_and_dev_despite_crlf_and_different_headers(shared_data):
    train = load_examples(shared_data / "sst2", split="train")
    dev = load_examples(shared_data / "sst2", split="dev")
    assert (len(train), len(dev)) == (67349, 872)
    assert not any(e.text.endswith("\r") for e in train[:1000])
    assert {e.label for e in dev} == {"0", "1"}
    assert dev[0].origin.endswith("dev.tsv:2")


def test_real_rte_is_read_as_sentence_pairs(shared_data):
    train = load_examples(shared_data / "rte" / "train.tsv")
    dev = load_examples(shared_data / "rte", split="dev")
    assert (len(train), len(dev)) == (2490, 277)
    assert all(e.text_pair for e in dev)
    assert {e.label for e in train} == {"0", "1"}


def test_bom_crlf_blank_lines_and_whitespace(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes("\ufefflabel\ttext\r\n1\t  good film  \r\n\r\n0\tbad film\r\n   \r\n".encode())
    examples = load_examples(path)
    assert [(e.label, e.text) for e in examples] == [("1", "good film"), ("0", "bad film")]


def test_a_doubled_separator_with_nothing_between_is_read_as_one(tmp_path, shared_data):
    """CR's test file has `1<TAB><TAB> If, like me ...` on line 31: the empty field holds nothing."""
    path = tmp_path / "test.tsv"
    path.write_text("label\tsentence\n1\t\t If, like me you simply want an iPod\n0\tdull\n")
    assert [(e.label, e.text) for e in load_examples(path)] == [("1", "If, like me you simply want an iPod"), ("0", "dull")]
    cr = load_examples(shared_data / "cr" / "test.tsv")
    assert len(cr) == 451 and cr[29].text.startswith("If, like me")


def test_malformed_row_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("label\tsentence\n1\tfine\n0\ttoo\tmany\n1\t\n")
    with pytest.raises(DataError, match=r"train\.tsv:3: expected 2 fields"):
        load_examples(path)
    report = LoadReport()
    examples = load_examples(path, skip_bad_rows=True, report=report)
    assert [e.text for e in examples] == ["fine"]
    assert len(report.skipped) == 2 and "train.tsv:4: empty text" in report.skipped[1]


def test_missing_label_is_an_error_only_when_labels_are_required(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('text,label\n"a, quoted, text",\n')
    with pytest.raises(DataError, match=r"x\.csv:2: missing label"):
        load_examples(path)
    assert load_examples(path, require_label=False)[0].text == "a, quoted, text"


def test_jsonl_with_a_broken_line(tmp_path):
    path = tmp_path / "dev.jsonl"
    rows = [{"sentence1": "A man sleeps.", "sentence2": "Someone rests.", "label": "entailment"}]
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"dev\.jsonl:2: not valid JSON"):
        load_examples(path)
    examples = load_examples(path, skip_bad_rows=True)
    assert examples[0].text_pair == "Someone rests." and examples[0].label == "entailment"


def test_folder_without_the_split_lists_what_it_has(tmp_path):
    (tmp_path / "train.tsv").write_text("label\tsentence\n1\tx\n")
    with pytest.raises(DataError, match="no dev file"):
        load_examples(tmp_path, split="dev")


def test_header_without_a_text_column(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("label\tbody\n1\tx\n")
    with pytest.raises(DataError, match="no text column"):
        load_examples(path)
    assert load_examples(path, text_column="body")[0].text == "x"


def test_numeric_labels_sort_numerically():
    examples = [Example("a", label=s) for s in ("10", "2", "1")]
    assert LabelSet.from_examples(examples).names == ("1", "2", "10")


def test_tokenize_and_collate_pad_on_the_right(tiny_bert):
    _, tokenizer = tiny_bert
    labels = LabelSet(("neg", "pos"))
    features = tokenize([Example("great food", label="pos"), Example("bad", label="neg")],
                        tokenizer=tokenizer, max_length=8, labels=labels)
    batch = collate(features, pad_token_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, 4)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [1, 0]


def test_unknown_label_is_reported(tiny_bert):
    _, tokenizer = tiny_bert
    with pytest.raises(DataError, match="f.tsv:3: label 'maybe'"):
        tokenize([Example("x", label="maybe", origin="f.tsv:3")], tokenizer=tokenizer, max_length=8,
                 labels=LabelSet(("neg", "pos")))


def test_hub_names_go_through_datasets_with_label_names(monkeypatch):
    """`glue/sst2` -> datasets.load_dataset("glue", "sst2", split=...); no network needed to check the mapping."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        features = datasets.Features({"sentence": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["negative", "positive"])})
        return datasets.Dataset.from_dict({"sentence": ["good", "bad"], "label": [1, 0]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples = load_examples("glue/sst2", split="dev")
    assert calls == [("glue", "sst2", "validation")]
    assert [(e.text, e.label) for e in examples] == [("good", "positive"), ("bad", "negative")]


def test_sentence_pairs_get_both_segments(tiny_bert):
    _, tokenizer = tiny_bert
    features = tokenize([Example("great food", "bad service", label="pos")], tokenizer=tokenizer, max_length=16,
                        labels=LabelSet(("neg", "pos")))
    ids, types = features[0]["input_ids"], features[0]["token_type_ids"]
    assert ids.count(tokenizer.sep_token_id) == 2 and set(types) == {0, 1}


def test_mixed_singles_and_pairs_are_refused(tiny_bert):
    _, tokenizer = tiny_bert
    with pytest.raises(DataError, match="mixed single texts and text pairs"):
        tokenize([Example("a", "b"), Example("c")], tokenizer=tokenizer, max_length=8, labels=None)
