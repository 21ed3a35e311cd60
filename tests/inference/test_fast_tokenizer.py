"""The ONNX runtime's tokenizer (tokenizer.json through the `tokenizers` library) gives what
transformers' tokenizer gives for every call the tasks make, on the bundled backbone's vocabulary."""
import pytest

from ptune.inference.fast_tokenizer import FastTokenizer

pytestmark = pytest.mark.integration

TEXTS = ["A gripping film.", "dull , and far too long — with naïve café ünïcode", ""]
PAIRS = ["Someone rests.", "x", "y"]
WORDS = [["John", "lives", "in", "Paris", "."], ["Ünïcode", "naïve"], ["a"] * 300]


@pytest.fixture(scope="module")
def both(minilm, tmp_path_factory):
    _, reference = minilm
    folder = tmp_path_factory.mktemp("tokenizer")
    reference.save_pretrained(folder)
    return reference, FastTokenizer(folder, model_input_names=list(reference.model_input_names))


def test_texts_and_pairs_truncated_longest_first(both):
    reference, ours = both
    for pairs in (None, PAIRS):
        a = reference(TEXTS, pairs, truncation=True, max_length=9, padding=False)
        b = ours(TEXTS, pairs, truncation=True, max_length=9, padding=False)
        assert (a["input_ids"], a["token_type_ids"]) == (b["input_ids"], b["token_type_ids"])


def test_pre_split_words_keep_their_word_ids(both):
    reference, ours = both
    a = reference(WORDS, is_split_into_words=True, truncation=True, max_length=20, padding=False)
    b = ours(WORDS, is_split_into_words=True, truncation=True, max_length=20, padding=False)
    assert a["input_ids"] == b["input_ids"]
    assert [a.word_ids(i) for i in range(3)] == [b.word_ids(i) for i in range(3)]


def test_question_context_windows_with_a_stride(both):
    reference, ours = both
    options = dict(truncation="only_second", max_length=64, stride=16, return_overflowing_tokens=True,
                   return_offsets_mapping=True, padding=False)
    questions, contexts = ["who lives in London?", "where?"], ["John lives in London with Mary. " * 40, "short"]
    a, b = reference(questions, contexts, **options), ours(questions, contexts, **options)
    assert len(a["input_ids"]) > 3  # several windows of the long context
    for key in ("input_ids", "token_type_ids", "overflow_to_sample_mapping"):
        assert a[key] == b[key], key
    assert [[tuple(o) for o in row] for row in a["offset_mapping"]] == [[tuple(o) for o in row] for row in b["offset_mapping"]]
    assert all(a.sequence_ids(i) == b.sequence_ids(i) for i in range(len(a["input_ids"])))


def test_single_texts_special_tokens_and_vocabulary(both):
    reference, ours = both
    assert reference("It was", add_special_tokens=False)["input_ids"] == ours("It was", add_special_tokens=False)["input_ids"]
    assert reference("", add_special_tokens=True)["input_ids"] == ours("", add_special_tokens=True)["input_ids"]
    offsets = lambda t: [tuple(o) for o in t("who lives", add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]  # noqa: E731
    assert offsets(reference) == offsets(ours)
    assert reference.tokenize(" great") == ours.tokenize(" great")
    assert reference.convert_tokens_to_ids(["great", "zzzqqq"]) == ours.convert_tokens_to_ids(["great", "zzzqqq"])
    for role in ("pad", "mask", "cls", "unk", "sep"):
        assert getattr(reference, f"{role}_token_id") == getattr(ours, f"{role}_token_id"), role
