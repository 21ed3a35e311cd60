"""Extractive QA: the SQuAD reader, windows and the offset round trip on the real sample and on
hard cases, span decoding (context only, no-answer for v2), the official metrics, and a tiny-model
train -> save -> load -> predict round trip (CLI, bank and server)."""
import json

import pytest
import torch

from conftest import save_random_adapter
from ptune.data.squad import QAExample, load_squad
from ptune.errors import DataError
from ptune.tasks.squad_metrics import f1_score, normalize_answer, squad_scores
from ptune.tasks import get_task
from ptune.tasks.question_answering import QuestionAnsweringConfig

SAMPLE = "squad-sample/dev-v2.0-normans.json"
TASK = get_task("qa")


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from ptune.engine.backbone import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path(None))


def squad_file(tmp_path, qas, context="Paris is the capital of France."):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": qas}]}]}))
    return path


def windows_of(example, tokenizer, max_length, **settings):
    labels = TASK.label_set([example])
    return TASK.features([example], tokenizer=tokenizer, max_length=max_length, labels=labels,
                         config=QuestionAnsweringConfig(**settings))


def round_trip(feature) -> str:
    start, end = feature["start_position"], feature["end_position"]
    return feature["context"][feature["offsets"][start][0]:feature["offsets"][end][1]]


# ---- reading ----------------------------------------------------------------------------------
def test_the_real_sample_reads_completely(shared_data):
    examples = load_squad(shared_data / SAMPLE, split="dev")
    assert len(examples) == 208 and sum(e.is_impossible for e in examples) == 112
    assert all(e.answers for e in examples if not e.is_impossible)
    assert load_squad(shared_data / "squad-sample", split="dev") == examples  # a folder finds dev*.json


@pytest.mark.parametrize("qa, message", [
    ({"id": "1", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 3}]},
     r"answer 'Paris' is not at its answer_start 3 .*'is is'"),
    ({"id": "1", "answers": [{"text": "Paris", "answer_start": 0}]}, r"missing \['question'\]"),
    ({"id": "1", "question": "Capital?", "answers": [{"text": "Paris"}]}, "lacks 'text' or 'answer_start'"),
    ({"id": "1", "question": "Capital?", "answers": []}, "no answers, and is_impossible is not true"),
    ({"id": "1", "question": "Capital?", "answers": "Paris"}, "'answers' must be a list"),
])
def test_malformed_entries_say_where_and_what(tmp_path, qa, message):
    if "no answers" in message:
        qa["is_impossible"] = False
    path = squad_file(tmp_path, [qa])
    with pytest.raises(DataError, match=message) as error:
        load_squad(path)
    assert str(path) in str(error.value) and "qas[0]" in str(error.value)


def test_not_a_squad_file_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"rows": []}')
    with pytest.raises(DataError, match="not a SQuAD file"):
        load_squad(tmp_path / "x.json")


def test_the_hub_path_is_the_same_code(monkeypatch):
    import datasets

    calls = []
    rows = [{"id": "a", "title": "t", "context": "Paris is big.", "question": "Which city?",
             "answers": {"text": ["Paris"], "answer_start": [0]}},
            {"id": "b", "title": "t", "context": "Paris is big.", "question": "Who?", "answers": {"text": [], "answer_start": []}}]
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: calls.append((name, split)) or rows)
    examples = load_squad("squad_v2", split="dev")
    assert calls == [("squad_v2", "validation")]
    assert examples[0].answers == (("Paris", 0),) and examples[1].is_impossible
    rows[0]["answers"]["answer_start"] = [3]
    with pytest.raises(DataError, match="hub:squad_v2:dev:0: answer 'Paris' is not at its answer_start 3"):
        load_squad("squad_v2", split="dev")


# ---- windows and offsets ----------------------------------------------------------------------
@pytest.mark.parametrize("max_length", [384, 96])
def test_every_gold_answer_of_the_sample_maps_to_tokens_and_back(shared_data, minilm_tokenizer, max_length):
    examples = load_squad(shared_data / SAMPLE, split="dev")
    checked = 0
    for example in examples:
        for text, start in example.answers:
            single = QAExample(example.id, example.question, example.context, ((text, start),))
            windows = windows_of(single, minilm_tokenizer, max_length)
            inside = [w for w in windows if w["start_position"] != 0]
            assert inside, f"{example.id}: {text!r} fits in no window"
            assert all(round_trip(w) == text for w in inside)
            checked += 1
    assert checked == 293


def test_answers_at_window_edges_and_across_window_boundaries(minilm_tokenizer):
    context = " ".join(f"w{i}" for i in range(60))
    at_edge = crossing = 0
    for i in range(58):  # every two-word answer: some sit at a window's edge, some cross a boundary
        answer = f"w{i} w{i + 1}"
        where = context.index(answer + " ") if i < 58 else context.index(answer)
        example = QAExample("x", "which words?", context, ((answer, where),))
        windows = windows_of(example, minilm_tokenizer, 32, doc_stride=6)
        assert len(windows) > 3
        for window in windows:
            context_tokens = [j for j, o in enumerate(window["offsets"]) if o is not None]
            first, last = window["offsets"][context_tokens[0]][0], window["offsets"][context_tokens[-1]][1]
            holds = first <= where and last >= where + len(answer)
            partly = not holds and first < where + len(answer) and last > where
            # A window holding part of the answer labels [CLS], never a cut span.
            assert (window["start_position"] != 0) == holds
            if holds:
                assert round_trip(window) == answer
                at_edge += window["start_position"] == context_tokens[0] or window["end_position"] == context_tokens[-1]
            crossing += partly
        assert any(w["start_position"] != 0 for w in windows), f"{answer!r} fits in no window"
    assert at_edge and crossing


def test_unicode_and_whitespace_in_contexts(minilm_tokenizer):
    context = "Der  Kölner Dom\u00a0steht in  Köln.\n\tCafé  “Reichard” liegt gegenüber — seit 1855."
    for answer in ("Kölner Dom", "Köln", "Café  “Reichard”", "1855"):
        example = QAExample("x", "Was?", context, ((answer, context.index(answer)),))
        window = windows_of(example, minilm_tokenizer, 384)[0]
        assert round_trip(window) == answer


def test_questions_are_cut_and_tiny_windows_refused(minilm_tokenizer):
    example = QAExample("x", "why " * 200, "Paris is the capital.", (("Paris", 0),))
    window = windows_of(example, minilm_tokenizer, 64, max_question_length=10)[0]
    assert round_trip(window) == "Paris" and window["input_ids"].count(minilm_tokenizer.sep_token_id) == 2
    with pytest.raises(Exception, match="max-length 256"):
        windows_of(example, minilm_tokenizer, 12)


# ---- decoding ---------------------------------------------------------------------------------
def test_spans_come_from_the_context_only_and_v2_may_answer_nothing(minilm_tokenizer):
    context = "The Normans were in Normandy in the 10th century."
    example = QAExample("x", "Who were in Normandy?", context, (("The Normans", 0),))
    window = windows_of(example, minilm_tokenizer, 384)[0]
    length = len(window["input_ids"])
    question = [i for i, o in enumerate(window["offsets"]) if o is None][1:-1]  # question tokens ([CLS]/[SEP] cut)
    logits = torch.zeros(length, 2)
    logits[question, :] = 50.0  # the question is the most "answer-like": it must never be chosen
    start, end = window["start_position"], window["end_position"]  # "The Normans"
    logits[start, 0], logits[end, 1] = 5.0, 5.0
    answer = TASK.answer([(logits, window)], QuestionAnsweringConfig())
    assert answer["answer"] == "The Normans" and (answer["start"], answer["end"]) == (0, 11)
    logits[0, :] = 8.0  # [CLS]: no answer, 16 > 10
    assert TASK.answer([(logits, window)], QuestionAnsweringConfig(with_negative=True))["answer"] == ""
    assert TASK.answer([(logits, window)], QuestionAnsweringConfig(with_negative=True, no_answer_threshold=7.0))[
        "answer"] == "The Normans"
    assert TASK.answer([(logits, window)], QuestionAnsweringConfig(with_negative=False))["answer"] == "The Normans"
    logits[start, 0], logits[end, 1] = -5.0, 5.0  # a one-piece limit: the best span of one word piece
    long = TASK.answer([(logits, window)], QuestionAnsweringConfig(max_answer_length=1))
    assert long["answer"] and " " not in long["answer"]


def test_the_best_span_wins_across_windows(minilm_tokenizer):
    context = " ".join(f"w{i}" for i in range(100))
    example = QAExample("x", "which?", context, (("w70", context.index("w70")),))
    windows = windows_of(example, minilm_tokenizer, 40, doc_stride=8)
    scored = []
    for window in windows:
        logits = torch.zeros(len(window["input_ids"]), 2)
        if window["start_position"]:
            logits[window["start_position"], 0] = logits[window["end_position"], 1] = 3.0
        scored.append((logits, window))
    assert TASK.answer(scored, QuestionAnsweringConfig())["answer"] == "w70"


# ---- metrics ----------------------------------------------------------------------------------
def test_normalisation_and_f1_as_the_official_script():
    assert normalize_answer("The  Normans!") == "normans" and normalize_answer("an apple, a pear") == "apple pear"
    assert f1_score("the cat sat on the mat", "cat on mat") == pytest.approx(2 * 1.0 * 0.75 / 1.75)
    assert f1_score("", "") == 1.0 and f1_score("", "Paris") == 0.0


def test_metrics_equal_the_official_script_on_the_real_sample(shared_data):
    """Expected values from SQuAD 2.0's official evaluation functions (normalize_answer,
    compute_exact, compute_f1, the gold-list rule of get_raw_scores) run on the same predictions."""
    questions = []
    for i, example in enumerate(load_squad(shared_data / SAMPLE, split="dev")):
        golds, words = example.answer_texts, example.context.split()
        predicted = [golds[0] if golds else "", ("The " + golds[0] + ".") if golds else "Normandy",
                     " ".join(words[i % 7: i % 7 + 5]), ""][i % 4]
        questions.append((golds, predicted))
    scores = squad_scores(questions)
    expected = {"exact": 48.07692307692308, "f1": 48.52678571428571, "total": 208, "HasAns_exact": 51.041666666666664,
                "HasAns_f1": 52.016369047619044, "HasAns_total": 96, "NoAns_exact": 45.535714285714285,
                "NoAns_f1": 45.535714285714285, "NoAns_total": 112}
    assert scores == pytest.approx(expected)


# ---- end to end -------------------------------------------------------------------------------
def ptune(*args):
    from helpers import ptune_here

    return ptune_here(*args)


def test_tiny_model_train_save_load_predict_round_trip(shared_data, tiny_backbone_dir, tmp_path):
    data = json.loads((shared_data / SAMPLE).read_text())
    data["data"][0]["paragraphs"] = data["data"][0]["paragraphs"][:3]  # 17 real questions, answerable or not
    sample = tmp_path / "dev-v2.0.json"
    sample.write_text(json.dumps(data))
    run = tmp_path / "qa"
    result = ptune("train", "--task", "qa", "--model", tiny_backbone_dir, "--data", sample, "--dev-data", sample,
                   "--output", run, "--max-length", "64", "--epochs", "1",
                   "--batch-size", "16", "--num-virtual-tokens", "4", "--no-progress")
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "ptune_config.json").read_text())
    assert config["task"]["type"] == "question_answering" and config["ptuning"]["task"]["with_negative"] is True
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["best_dev"]) == {"f1", "exact"} and 0 <= metrics["best_dev"]["f1"] <= 1
    evaluated = ptune("eval", "--adapter", run, "--data", sample)
    assert evaluated.returncode == 0 and "unanswerable" in evaluated.stdout, evaluated.stderr
    context = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    answered = ptune("predict", "--adapter", run, "--question", "Who gave their name to Normandy?", "--context", context)
    assert answered.returncode == 0, answered.stderr
    row = json.loads(answered.stdout)
    assert row["question"] == "Who gave their name to Normandy?" and "no_answer" in row
    if not row["no_answer"]:
        assert context[row["start"]:row["end"]] == row["answer"]
    wrong = ptune("predict", "--adapter", run, "some text")
    assert wrong.returncode == 2 and "--question Q --context C" in wrong.stderr


def test_qa_rows_mix_with_other_tasks_in_the_bank_and_the_server(tiny_bert, tiny_backbone_dir, tmp_path):
    from fastapi.testclient import TestClient

    from ptune.engine.bank import AdapterBank
    from ptune.inference.predictor import Predictor
    from agreement import answers_agree
    from ptune.serve.app import create_app

    backbone, _ = tiny_bert
    folders = {"qa": save_random_adapter(backbone, tiny_backbone_dir, tmp_path / "qa", task="question_answering",
                                         injection="deep", placement="after_cls", k=3, seed=0),
               "sst2": save_random_adapter(backbone, tiny_backbone_dir, tmp_path / "sst2", task="classification",
                                           injection="input", placement="after_cls", k=2, seed=1)}
    bank = AdapterBank.from_adapters(folders, model_name=str(tiny_backbone_dir))
    long_context = "The film was great . " * 20  # several windows at max_length 48
    item = {"question": "what was the film ?", "context": long_context}
    mixed = bank.predict([("sst2", "a great film"), ("qa", item), ("sst2", "dull")], batch_size=4)
    alone = Predictor(folders["qa"], model_name=str(tiny_backbone_dir)).predict([item])[0]
    assert answers_agree(mixed[1], alone, atol=1e-4)
    with TestClient(create_app(bank)) as client:
        answer = client.post("/v1/predict", json={"task": "qa", "inputs": [item]})
        assert answer.status_code == 200 and answers_agree(answer.json()["predictions"][0], alone)
        tasks = {t["name"]: t for t in client.get("/v1/tasks").json()["tasks"]}
        assert tasks["qa"]["input"] == "qa"
        wrong = client.post("/v1/predict", json={"task": "qa", "inputs": ["just a string"]})
        assert wrong.status_code == 422 and wrong.json()["error"]["kind"] == "wrong_input_form"
        empty = client.post("/v1/predict", json={"task": "qa", "inputs": [{"question": " ", "context": "x"}]})
        assert empty.status_code == 422 and empty.json()["error"]["kind"] == "empty_input"


@pytest.mark.parametrize("injection, placement", [("input", "after_cls"), ("input", "prefix"), ("deep", "after_cls")])
def test_start_and_end_logits_cover_the_text_only_never_virtual_positions(tiny_bert, injection, placement):
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel

    backbone, tokenizer = tiny_bert
    model = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=5, injection=injection, placement=placement,
                                                 task=QuestionAnsweringConfig(), max_length=32), num_labels=2).eval()
    example = QAExample("x", "what film ?", "a great film .", (("great film", 2),))
    window = TASK.features([example], tokenizer=tokenizer, max_length=32, labels=TASK.label_set([example]))[0]
    batch = TASK.collate([window], pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert logits.shape == (1, len(window["input_ids"]), 2)  # one row per text token, none for the 5 virtual ones
    assert round_trip(window) == "great film"


def test_a_gold_answer_that_normalises_to_nothing_still_makes_the_question_answerable():
    # The official script: qid_to_has_ans = bool(qa["answers"]), decided before normalising.
    scores = squad_scores([(["The"], ""), (["Paris"], "Paris"), ([], "")])
    assert scores["HasAns_total"] == 2 and scores["NoAns_total"] == 1
    assert scores["HasAns_exact"] == 100.0  # "The" normalises to nothing: only "" matches it, as the script scores
