"""What `ptune predict` reads: texts from arguments, stdin or a file, or inputs of named fields (QA
questions with their passages) as JSON lines, each checked against the input form the adapter
was trained on (ptune.tasks.input_forms)."""
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


def read_object_inputs(args, form) -> list:
    """Inputs of named fields (an `object` input form, ptune.tasks.input_forms): JSONL lines, one
    object per input, from --file or stdin ('-'); question answering also takes --question/--context
    and a SQuAD .json file."""
    keys = [f.key for f in form.fields]
    example = "{" + ", ".join(f'"{k}": ...' for k in keys) + "}"
    flags = {"question": args.question, "context": args.context}
    is_qa = set(flags) == set(keys)
    if args.texts and args.texts != ["-"]:
        extra = "--question Q --context C, " if is_qa else ""
        raise PtuneError(f"this adapter takes {form.help}: give {extra}--file (.jsonl lines {example}"
                         f"{' or a SQuAD .json' if is_qa else ''}), or '-' for such lines on stdin; not TEXT arguments")
    given = [k for k, v in flags.items() if v is not None]
    if given and not is_qa:
        raise PtuneError(f"--{'/--'.join(given)} are for question-answering adapters; this one takes {form.help}")
    if given and len(given) != 2:
        raise PtuneError("give --question and --context together")
    inputs = [{"question": args.question, "context": args.context}] if given else []
    lines = []
    if args.texts == ["-"]:
        lines += [("stdin", n, line) for n, line in enumerate(read_lines(sys.stdin.buffer, "stdin"), 1)]
    if args.file:
        from ptune.data.sources import not_a_data_file

        path = Path(args.file)
        problem = not_a_data_file(path, "text")
        if problem or not path.exists():
            raise PtuneError(f"--file {problem or f'{path}: no such file'}")
        if path.suffix == ".json" and is_qa:
            from ptune.data.squad import read_squad_file

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
            raise PtuneError(f"{origin}:{number}: not a JSON object ({err}); expected {example}") from None
        if form.texts(item) is None:
            raise PtuneError(f"{origin}:{number}: expected {example} with a string for each of {', '.join(keys)}"
                             f"{' (and optionally ' + ', '.join(form.optional) + ')' if form.optional else ''}")
        inputs.append(item)
    if not inputs:
        raise PtuneError(f"nothing to predict: give {'--question and --context, ' if is_qa else ''}--file, or '-' "
                         f"for JSONL lines {example} on stdin")
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
