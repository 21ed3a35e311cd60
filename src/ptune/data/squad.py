"""SQuAD v1.1 / v2.0 reading: the official JSON files, or `squad` / `squad_v2` from the Hub.

Both sources become the same flat rows (id, title, context, question, answers {text,
answer_start}, is_impossible) and go through one function that checks them, so a user on the Hub
runs the same code as the tests on local files. A row is refused with `file: where: what` when a
field is missing or an answer's text is not at its `answer_start` in the context.
"""
from __future__ import annotations

from ptune.extras import require

import json
from dataclasses import dataclass
from pathlib import Path

from ptune.data.examples import unicode_problem
from ptune.errors import DataError

HUB_NAMES = {"squad", "squad_v2", "rajpurkar/squad", "rajpurkar/squad_v2"}
HUB_SPLITS = {"train": "train", "dev": "validation", "validation": "validation"}


@dataclass(frozen=True)
class QAExample:
    """A question on a context; `answers` are (text, character start) pairs, empty when unanswerable."""

    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...] = ()
    is_impossible: bool = False
    origin: str = ""

    @property
    def label(self):  # QA has no label set; label checks written for the other tasks see None
        return None

    @property
    def answer_texts(self) -> list[str]:
        return [text for text, _ in self.answers]


def example_from_row(row: dict, origin: str) -> QAExample:
    """One flat row (the Hub's layout) -> a checked QAExample."""
    missing = [key for key in ("id", "context", "question", "answers") if key not in row]
    if missing:
        raise DataError(f"{origin}: missing {missing}; every question needs an id, a context, a question and answers")
    context, question, answers_field = row["context"], row["question"], row["answers"]
    if not isinstance(context, str) or not isinstance(question, str) or not question.strip():
        raise DataError(f"{origin}: the question and the context must be non-empty strings")
    if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
        raise DataError(f"{origin}: the id must be a string, found {type(row['id']).__name__}")
    if not isinstance(answers_field, dict):
        raise DataError(f"{origin}: 'answers' must be {{text: [...], answer_start: [...]}}")
    texts, starts = answers_field.get("text", []), answers_field.get("answer_start", [])
    if not isinstance(texts, list) or not isinstance(starts, list):
        raise DataError(f"{origin}: answers' text and answer_start must be lists")
    if len(texts) != len(starts):
        raise DataError(f"{origin}: {len(texts)} answer texts but {len(starts)} answer_start values")
    for name, text in (("id", str(row["id"])), ("question", question), ("context", context)):
        if unicode_problem(text):
            raise DataError(f"{origin}: the {name} {unicode_problem(text)}")
    answers = []
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or not text:
            raise DataError(f"{origin}: an answer's text must be a non-empty string, found {json.dumps(text)[:40]}")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0 or context[start:start + len(text)] != text:
            found = context[start:start + len(text)] if isinstance(start, int) and start >= 0 else start
            raise DataError(f"{origin}: answer {text!r} is not at its answer_start {start!r} in the context "
                            f"(the context has {found!r} there)")
        answers.append((text, start))
    impossible = row.get("is_impossible", not answers)
    if not isinstance(impossible, bool):
        raise DataError(f"{origin}: is_impossible must be true or false, found {json.dumps(impossible)[:40]}")
    if not impossible and not answers:
        raise DataError(f"{origin}: no answers, and is_impossible is not true")
    return QAExample(id=str(row["id"]), question=question, context=context, answers=tuple(answers),
                     is_impossible=impossible, origin=origin)


def _list(value, where: str, what: str) -> list:
    if not isinstance(value, list):
        raise DataError(f"{where}: '{what}' must be a list, found {type(value).__name__}")
    return value


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def rows_from_json(data, path: Path):
    """The official nested layout (data -> paragraphs -> qas) as flat rows with their location."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: not a SQuAD file (expected an object with a 'data' list of articles)")
    for a, article in enumerate(data["data"]):
        article = _object(article, f"{path}: data[{a}]")
        for p, paragraph in enumerate(_list(article.get("paragraphs", []), f"{path}: data[{a}]", "paragraphs")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            paragraph = _object(paragraph, where)
            if "context" not in paragraph or "qas" not in paragraph:
                raise DataError(f"{where}: missing 'context' or 'qas'")
            for q, qa in enumerate(_list(paragraph["qas"], where, "qas")):
                qa = _object(qa, f"{where}.qas[{q}]")
                name = f"{where}.qas[{q}] (id {qa.get('id')!r})"
                answers = qa.get("answers")
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    raise DataError(f"{name}: 'answers' must be a list of {{text, answer_start}} objects")
                if any("text" not in x or "answer_start" not in x for x in answers):
                    raise DataError(f"{name}: an answer lacks 'text' or 'answer_start'")
                row = {key: qa[key] for key in ("id", "question", "is_impossible") if key in qa}
                row.update(context=paragraph["context"], title=article.get("title", ""),
                           answers={"text": [x["text"] for x in answers], "answer_start": [x["answer_start"] for x in answers]})
                yield row, name


def read_squad_file(path: str | Path) -> list[QAExample]:
    from ptune.data.sources import read_text

    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a SQuAD file") from None
    examples = [example_from_row(row, origin) for row, origin in rows_from_json(data, path)]
    if not examples:
        raise DataError(f"{path}: no questions (the 'data' list holds no paragraphs with qas); "
                        "a SQuAD file needs at least one question")
    return examples


def split_file(folder: Path, split: str) -> Path:
    """`train*.json` or `dev*.json` in a folder (SQuAD's own names: train-v2.0.json, dev-v2.0.json)."""
    found = sorted(folder.glob(f"{split}*.json"))
    if len(found) != 1:
        named = ", ".join(p.name for p in sorted(folder.glob("*.json"))) or "none"
        raise DataError(f"{folder}: expected one {split}*.json file for the {split} split, found "
                        f"{len(found)} (JSON files there: {named})")
    return found[0]


def load_squad(source: str | Path, *, split: str = "train") -> list[QAExample]:
    """A SQuAD JSON file, a folder with train*.json / dev*.json, or a Hub name (squad, squad_v2)."""
    path = Path(source)
    if path.is_file():
        return read_squad_file(path)
    if path.is_dir():
        return read_squad_file(split_file(path, split))
    if str(source) in HUB_NAMES:
        return load_squad_hub(str(source), split=split)
    raise DataError(f"{source}: no such file or folder, and not a Hub name ({sorted(HUB_NAMES)})")


def load_squad_hub(name: str, *, split: str) -> list[QAExample]:
    require("hub", f"{name}: reading a Hub data set", alternative="or pass a local SQuAD .json file")
    import datasets
    table = datasets.load_dataset(name, split=HUB_SPLITS.get(split, split))
    return [example_from_row({**row, "answers": dict(row["answers"])}, f"hub:{name}:{split}:{i}")
            for i, row in enumerate(table)]
