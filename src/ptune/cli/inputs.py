"""What `ptune predict` reads: texts from arguments, stdin or a file, QA questions with their
passages, each checked against the input form the adapter was trained on."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ptune.errors import PtuneError


def read_inputs(args) -> list:
    """Inputs in order; a blank line stays in place (as "") so output line N answers input line N."""
    from ptune.data import Example, load_examples

    inputs = []
    for text in args.texts:
        inputs += [line.strip() for line in read_lines(sys.stdin.buffer, "stdin")] if text == "-" else [text]
    if args.file:
        from ptune.data.sources import not_a_data_file

        path = Path(args.file)
        problem = not_a_data_file(path, "text")
        if problem or not path.exists():
            raise PtuneError(f"--file {problem or f'{path}: no such file'}")
        if path.suffix in (".tsv", ".csv", ".jsonl", ".json"):
            inputs += [Example(e.text, e.text_pair) for e in load_examples(path, require_label=False)]
        else:
            with path.open("rb") as handle:
                inputs += [line.strip() for line in read_lines(handle, str(path))]
    if not any(i for i in inputs):
        raise PtuneError("nothing to predict: give TEXT arguments, '-' for stdin, or --file")
    return inputs


def read_lines(handle, origin: str) -> list[str]:
    data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PtuneError(f"{origin}:{line}: not UTF-8 text (byte {data[err.start]:#x}); "
                         "convert it, e.g. `iconv -f latin1 -t utf-8`") from None
    return text.splitlines()


def read_qa_inputs(args) -> list:
    """QA inputs: --question/--context, a SQuAD .json or a .jsonl file, or JSONL on stdin ('-')."""
    from ptune.data.squad import read_squad_file

    if args.texts and args.texts != ["-"]:
        raise PtuneError("a question-answering adapter takes --question Q --context C, --file (SQuAD .json or .jsonl "
                         "lines {\"question\": ..., \"context\": ...}), or '-' for such lines on stdin; not TEXT arguments")
    if (args.question is None) != (args.context is None):
        raise PtuneError("give --question and --context together")
    inputs = [{"question": args.question, "context": args.context}] if args.question is not None else []
    lines = []
    if args.texts == ["-"]:
        lines += [("stdin", n, line) for n, line in enumerate(read_lines(sys.stdin.buffer, "stdin"), 1)]
    if args.file:
        from ptune.data.sources import not_a_data_file

        path = Path(args.file)
        problem = not_a_data_file(path, "text")
        if problem or not path.exists():
            raise PtuneError(f"--file {problem or f'{path}: no such file'}")
        if path.suffix == ".json":
            inputs += read_squad_file(path)
        else:
            with path.open("rb") as handle:
                lines += [(str(path), n, line) for n, line in enumerate(read_lines(handle, str(path)), 1)]
    for origin, number, line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise PtuneError(f"{origin}:{number}: not a JSON object ({err}); expected {{\"question\": ..., \"context\": ...}}") from None
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("question", "context")):
            raise PtuneError(f"{origin}:{number}: expected {{\"question\": ..., \"context\": ...}} with two strings")
        inputs.append(item)
    if not inputs:
        raise PtuneError("nothing to predict: give --question and --context, --file, or '-' for JSONL on stdin")
    return inputs


def check_input_form(args, inputs: list, form: str | None) -> None:
    """Texts for a single-text adapter, pairs for a pair adapter, as the server demands: a pair run
    through a single-text adapter (or the reverse) answers something it was never trained on."""
    from ptune.tasks.input_forms import INPUT_FORMS

    shape = INPUT_FORMS[form].shape if form in INPUT_FORMS else None
    for number, item in enumerate(inputs, 1):
        if not item:
            continue
        pair = not isinstance(item, str) and item.text_pair is not None
        if shape == "list" and not pair:
            raise PtuneError(f"{args.adapter} was trained on text pairs, but input {number} is a single text; give a "
                             "TSV, CSV or JSONL --file with two text columns (e.g. sentence1, sentence2)")
        if shape == "string" and pair:
            raise PtuneError(f"{args.adapter} was trained on single texts, but input {number} of {args.file} is a text "
                             "pair; give a file with one text column")
