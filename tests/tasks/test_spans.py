"""Entity spans from tags: the chunk rules seqeval scores with, so a served prediction names
exactly the entities its F1 counts; written out so that decoding needs no seqeval (and no
scikit-learn)."""
from hypothesis import given, settings, strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from ptune.tasks.spans import entity_spans

TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "I-MISC-X", "B-", "I", "B", "."]


def test_the_usual_bio_cases():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert entity_spans(["I-PER", "I-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 2, 2)]  # IOB1: I opens a chunk
    assert entity_spans(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # a type change closes one
    assert entity_spans(["S-LOC", "B-PER", "E-PER", "O"]) == [("LOC", 0, 0), ("PER", 1, 2)]  # IOBES
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=12))
def test_equal_to_seqeval_on_any_tag_sequence(tags):
    import warnings

    with warnings.catch_warnings():  # seqeval warns about tags it does not recognise; it still parses them
        warnings.simplefilter("ignore")
        expected = get_entities(list(tags))
    assert entity_spans(tags) == expected
