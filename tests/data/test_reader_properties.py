"""Property tests of the readers: any bytes, any Unicode (surrogates, NUL, odd line ends), any JSON.

Every outcome is a parsed list whose texts are valid Unicode (so the tokenizer can take them) or a
`PtuneError` with a message; never another exception. `make test` runs a fixed, seeded budget;
`PTUNE_FUZZ_EXAMPLES=5000 pytest tests/data/test_reader_properties.py` runs a longer one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from ptune.data.conll import read_conll
from ptune.data.sources import load_examples
from ptune.data.examples import unicode_problem
from ptune.data.squad import read_squad_file
from ptune.errors import PtuneError

BUDGET = settings(max_examples=int(os.environ.get("PTUNE_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])

# Characters a real file may hold, weighted towards the ones readers split on.
ANY_CHAR = st.one_of(st.characters(codec=None), st.sampled_from("\t,\n\r\x00\"\\{}[]: \ufeff\u2028\x85"),
                     st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
TEXT = st.text(ANY_CHAR, max_size=200)
LINES = st.lists(st.one_of(TEXT, st.sampled_from(["sentence\tlabel", "text,label", "a\tpositive", "EU B-ORG",
                                                 "-DOCSTART- O", "", "x O"])), max_size=12).map("\n".join)
JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                          max_leaves=12)


def encoded(text: str) -> bytes:
    # surrogatepass writes a lone surrogate's bytes as they would appear in a broken file
    return text.encode("utf-8", "surrogatepass")


def file_with(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=suffix, dir=SCRATCH)
    handle.write(data)
    handle.close()
    return Path(handle.name)


SCRATCH = tempfile.mkdtemp(prefix="ptune-fuzz-")


def outcome(read, path: Path):
    """The reader's result, or None when it refused with a PtuneError (any other exception fails)."""
    try:
        return read(path)
    except PtuneError as err:
        assert str(err).strip(), "a refusal must say what is wrong"
        return None
    finally:
        path.unlink()


def assert_valid_unicode(*texts):
    for text in texts:
        if text is not None:
            text.encode("utf-8")  # raises on a lone surrogate, which the tokenizer would choke on


@BUDGET
@given(data=st.one_of(st.binary(max_size=300), LINES.map(encoded)), suffix=st.sampled_from([".tsv", ".csv", ".jsonl"]))
def test_delimited_and_jsonl_readers_parse_or_refuse(data, suffix):
    examples = outcome(lambda p: load_examples(p, require_label=False), file_with(data, suffix))
    for example in examples or []:
        assert example.text
        assert_valid_unicode(example.text, example.text_pair, example.label)


@BUDGET
@given(rows=st.lists(JSON_VALUE, max_size=5))
def test_jsonl_reader_takes_any_json_rows(rows):
    data = "\n".join(json.dumps(row) for row in rows).encode()
    examples = outcome(lambda p: load_examples(p, require_label=False), file_with(data, ".jsonl"))
    for example in examples or []:
        assert_valid_unicode(example.text, example.text_pair, example.label)


@BUDGET
@given(data=st.one_of(st.binary(max_size=300), LINES.map(encoded)))
def test_conll_reader_parses_or_refuses(data):
    for sentence in outcome(read_conll, file_with(data, ".txt")) or []:
        assert sentence.words and len(sentence.words) == len(sentence.tags)
        assert_valid_unicode(*sentence.words, *sentence.tags)


def squad_like():
    """Mostly SQuAD-shaped documents with arbitrary leaves, so the checks deep inside are reached."""
    answer = st.fixed_dictionaries({"text": JSON_VALUE | TEXT, "answer_start": JSON_VALUE | st.integers(-3, 50)})
    qa = st.fixed_dictionaries({"id": JSON_VALUE, "question": JSON_VALUE | TEXT,
                                "answers": st.lists(answer | JSON_VALUE, max_size=3) | JSON_VALUE},
                               optional={"is_impossible": JSON_VALUE})
    paragraph = st.fixed_dictionaries({"context": TEXT | JSON_VALUE, "qas": st.lists(qa | JSON_VALUE, max_size=3) | JSON_VALUE})
    article = st.fixed_dictionaries({"title": JSON_VALUE, "paragraphs": st.lists(paragraph | JSON_VALUE, max_size=3) | JSON_VALUE})
    return st.fixed_dictionaries({"data": st.lists(article | JSON_VALUE, max_size=3) | JSON_VALUE}) | JSON_VALUE


@BUDGET
@given(document=squad_like())
def test_squad_reader_takes_any_json_document(document):
    for example in outcome(read_squad_file, file_with(json.dumps(document).encode(), ".json")) or []:
        assert example.question.strip()
        assert_valid_unicode(example.id, example.question, example.context, *example.answer_texts)
        for text, start in example.answers:
            assert example.context[start:start + len(text)] == text


@BUDGET
@given(data=st.binary(max_size=300))
def test_squad_reader_takes_any_bytes(data):
    # Random bytes are never a SQuAD document with a question in it: refused, in one line (outcome).
    assert outcome(read_squad_file, file_with(data, ".json")) is None


PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@st.composite
def well_formed_squad(draw):
    """A valid SQuAD 2.0 document and, in reading order, the questions it holds: (id, question,
    context, answers, impossible). Answers are spans of their context."""
    expected, articles = [], []
    for a in range(draw(st.integers(1, 2))):
        paragraphs = []
        for p in range(draw(st.integers(0, 2))):
            context = draw(PLAIN.filter(lambda t: unicode_problem(t) is None))
            qas = []
            for q in range(draw(st.integers(0, 3))):
                question = draw(PLAIN.filter(lambda t: t.strip() and unicode_problem(t) is None))
                spans = [] if not context else draw(st.lists(st.tuples(st.integers(0, len(context) - 1),
                                                                       st.integers(1, 10)), max_size=2))
                answers = tuple((context[start:start + size], start) for start, size in spans)
                impossible = not answers
                identifier = f"q{a}.{p}.{q}"
                qas.append({"id": identifier, "question": question, "is_impossible": impossible,
                            "answers": [{"text": text, "answer_start": start} for text, start in answers]})
                expected.append((identifier, question, context, answers, impossible))
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"article {a}", "paragraphs": paragraphs})
    return {"version": "v2.0", "data": articles}, expected


@BUDGET
@given(document=well_formed_squad())
def test_squad_reader_reads_every_question_of_a_well_formed_document(document):
    document, expected = document
    read = outcome(read_squad_file, file_with(json.dumps(document).encode(), ".json"))
    if not expected:  # a document without questions is refused, saying so
        assert read is None
        return
    assert [(e.id, e.question, e.context, e.answers, e.is_impossible) for e in read] == expected
