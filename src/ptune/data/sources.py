"""Reading examples from local files (TSV, CSV, JSONL, or a folder of splits) or the Hub.

Real files are messy: header names differ between splits (`sentence`, `content`, `text`), lines
end in CRLF, files start with a BOM, rows have stray whitespace or are blank. All of that is
handled; a row that is really wrong is reported as `file:line: what is wrong`.
"""
from __future__ import annotations

from ptune.extras import require

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ptune.data.examples import Example, unicode_problem
from ptune.errors import DataError

TEXT_COLUMNS = ("sentence", "content", "text", "review", "document")
PAIR_COLUMNS = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question", "sentence"), ("text_a", "text_b"))
LABEL_COLUMNS = ("label", "labels", "gold_label", "class", "target")
SPLIT_STEMS = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}
SUFFIXES = (".tsv", ".csv", ".jsonl", ".json")


@dataclass
class LoadReport:
    """What loading skipped, so callers can print it: `skipped 3 malformed rows`."""

    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    text: str
    pair: str | None
    label: str | None


def find_columns(header: list[str], origin: str, *, text_column=None, pair_column=None, label_column=None) -> Columns:
    names = {h.strip().lower(): h for h in header}
    label = label_column or next((names[c] for c in LABEL_COLUMNS if c in names), None)
    if text_column:
        missing = [c for c in (text_column, pair_column) if c and c not in header]
        if missing:
            raise DataError(f"{origin}: column(s) {missing} not in header {header}")
        return distinct(Columns(text_column, pair_column, label), origin)
    for first, second in PAIR_COLUMNS:
        if first in names and second in names:
            return distinct(Columns(names[first], names[second], label), origin)
    text = next((names[c] for c in TEXT_COLUMNS if c in names), None)
    if text is None:
        raise DataError(
            f"{origin}: no text column in header {header}; expected one of {list(TEXT_COLUMNS)} "
            f"or a pair {[list(p) for p in PAIR_COLUMNS]} (or pass --text-column)"
        )
    return distinct(Columns(text, None, label), origin)


def distinct(columns: Columns, origin: str) -> Columns:
    """A column read as two things (the label as the text) would train on the answer."""
    roles = [(role, name) for role, name in (("text", columns.text), ("pair", columns.pair), ("label", columns.label))
             if name is not None]
    for i, (role, name) in enumerate(roles):
        for other, other_name in roles[i + 1:]:
            if name == other_name:
                raise DataError(f"{origin}: column {name!r} is chosen as both the {role} and the {other}; "
                                "give each role its own column (--text-column, --pair-column, --label-column)")
    return columns


def not_a_data_file(path: Path, what: str = "data") -> str | None:
    """Why `path` cannot be read as a data file (a folder, a FIFO or device that would block or never
    end, a broken or looping link), or None when it is a regular file."""
    if path.is_symlink() and not path.exists():
        return f"{path}: a symbolic link that leads nowhere (its target is missing, or the links form a loop)"
    if not path.exists():
        return None
    if path.is_dir():
        return f"{path}: a folder, not a {what} file"
    if not path.is_file():
        return (f"{path}: not a regular file (a FIFO, device or socket, which could block or never end); "
                f"save the {what} to a file first")
    return None


def _row_to_example(row: dict, columns: Columns, origin: str, *, require_label: bool) -> Example:
    def cell(name, what):
        value = row.get(name)
        if isinstance(value, (dict, list)) or (what == "text" and value is not None and not isinstance(value, str)):
            raise DataError(f"{origin}: column {name!r} holds {type(value).__name__} {json.dumps(value)[:40]}; "
                            f"expected a {what} string")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # JSONL labels may be written as numbers
        value = value.strip() if isinstance(value, str) else value
        problem = unicode_problem(value) if isinstance(value, str) else None
        if problem:
            raise DataError(f"{origin}: column {name!r} {problem}")
        return value

    text = cell(columns.text, "text")
    if not text:
        raise DataError(f"{origin}: empty text in column {columns.text!r}")
    pair = cell(columns.pair, "text") if columns.pair else None
    if columns.pair and not pair:
        raise DataError(f"{origin}: empty text in column {columns.pair!r}")
    label = cell(columns.label, "label") if columns.label else None
    if label is not None and not isinstance(label, str):
        label = str(label)
    if require_label and not label:
        raise DataError(f"{origin}: missing label (column {columns.label!r})")
    return Example(text=text, text_pair=pair, label=label or None, origin=origin)


def _read_delimited(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank line; BOM and CRLF removed."""
    lines = read_text(path).splitlines()
    if delimiter == "\t":
        # GLUE TSVs are unquoted: a `"` is part of the text, so split on tabs only.
        return [(n, line.split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    parsed = csv.reader([line for _, line in numbered])
    return [(n, fields) for (n, _), fields in zip(numbered, parsed)]


def read_delimited(path: Path, *, skip_bad_rows: bool, report: LoadReport, require_label: bool, **names) -> list[Example]:
    rows = _read_delimited(path, "\t" if path.suffix == ".tsv" else ",")
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    columns = find_columns(header, f"{path}:{header_line}", **names)
    examples = []
    for line, fields in rows[1:]:
        origin = f"{path}:{line}"
        try:
            if len(fields) > len(header) and sum(bool(f.strip()) for f in fields) == len(header):
                # a stray doubled separator (CR's test file has `1<TAB><TAB> If, like me ...`): the empty
                # fields hold nothing, and dropping them leaves exactly one value per column
                fields = [f for f in fields if f.strip()]
            if len(fields) != len(header):
                raise DataError(f"{origin}: expected {len(header)} fields ({', '.join(header)}), found {len(fields)}")
            examples.append(_row_to_example(dict(zip(header, fields)), columns, origin, require_label=require_label))
        except DataError as err:
            if not skip_bad_rows:
                raise
            report.skipped.append(str(err))
    return examples


def read_text(path: Path) -> str:
    """The file as text (BOM dropped, line endings kept), or `file:line: not UTF-8 ...`."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#x}); convert the file, "
                        "e.g. `iconv -f latin1 -t utf-8`") from None


def read_jsonl(path: Path, *, skip_bad_rows: bool, report: LoadReport, require_label: bool, **names) -> list[Example]:
    examples, columns = [], None
    for line_number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        origin = f"{path}:{line_number}"
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise DataError(f"{origin}: expected a JSON object per line, found {type(row).__name__}")
            columns = columns or find_columns(list(row), origin, **names)
            examples.append(_row_to_example(row, columns, origin, require_label=require_label))
        except (json.JSONDecodeError, RecursionError) as err:
            reason = f"{err.msg} at column {err.colno}" if isinstance(err, json.JSONDecodeError) else "nested too deeply"
            problem = DataError(f"{origin}: not valid JSON ({reason})")
            if not skip_bad_rows:
                raise problem from None
            report.skipped.append(str(problem))
        except DataError as err:
            if not skip_bad_rows or columns is None:
                raise
            report.skipped.append(str(err))
    if not examples and not report.skipped:
        raise DataError(f"{path}: the file is empty")
    return examples


def find_split_file(folder: Path, split: str) -> Path:
    for stem in SPLIT_STEMS[split]:
        for suffix in SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            problem = not_a_data_file(candidate, split)
            if problem:
                raise DataError(f"{problem}; the {split} split of {folder} is read from it")
            if candidate.is_file():
                return candidate
    names = sorted(p.name for p in folder.iterdir())
    raise DataError(
        f"{folder}: no {split} file; expected one of "
        f"{[s + x for s in SPLIT_STEMS[split] for x in SUFFIXES[:3]]}, found {names}"
    )


def load_examples(
    source: str | Path,
    *,
    split: str = "train",
    skip_bad_rows: bool = False,
    require_label: bool = True,
    report: LoadReport | None = None,
    text_column: str | None = None,
    pair_column: str | None = None,
    label_column: str | None = None,
) -> list[Example]:
    """Examples of one split from a file, a folder of split files, or a Hub name like `glue/sst2`."""
    report = report if report is not None else LoadReport()
    names = {"text_column": text_column, "pair_column": pair_column, "label_column": label_column}
    if not str(source).strip():
        raise DataError("the data path is empty; give a file, a folder of split files, or a Hub name like glue/sst2")
    path = Path(source)
    if path.is_dir():
        path = find_split_file(path, split)
    problem = not_a_data_file(path)
    if problem:
        raise DataError(problem)
    if not path.exists():
        if _looks_like_hub_name(str(source)):
            require("hub", f"{source}: no such file or folder here; as the name of a Hub data set, reading it",
                    alternative="or pass a local folder or file")
            try:
                return load_hub_examples(str(source), split=split, **names)
            except DataError as err:  # say first that the path is not here, then what the Hub said
                raise DataError(f"{source}: no such file or folder; read as a Hub data set name: {err}") from None
        raise DataError(f"{source}: no such file or folder (a Hub data set is written like `glue/sst2`)")
    kwargs = {"skip_bad_rows": skip_bad_rows, "report": report, "require_label": require_label, **names}
    if path.suffix in (".tsv", ".csv"):
        return read_delimited(path, **kwargs)
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path, **kwargs)
    raise DataError(f"{path}: unknown file type {path.suffix!r}; expected one of {list(SUFFIXES)}")


def _looks_like_hub_name(source: str) -> bool:
    return "/" in source and not source.startswith((".", "/", "~")) and source.count("/") <= 2


def load_hub_examples(name: str, *, split: str, text_column=None, pair_column=None, label_column=None) -> list[Example]:
    """`glue/sst2` -> datasets.load_dataset("glue", "sst2"); `imdb` style names work too via `owner/name`."""
    require("hub", f"{name!r} looks like a Hub data set; reading it", alternative="or pass a local folder or file")
    import datasets

    parts = name.split("/")
    path, config = (parts[0], parts[1]) if parts[0] in ("glue", "super_glue") else (name, None)
    hub_split = {"dev": "validation"}.get(split, split)
    try:
        table = datasets.load_dataset(path, config, split=hub_split)
    except Exception as err:  # datasets raises many types (connection, not found, bad split)
        raise DataError(f"could not load {name!r} split {hub_split!r} from the Hub: {err}") from err
    label_feature = table.features.get(label_column or "label")
    columns = find_columns(table.column_names, f"hub:{name}", text_column=text_column,
                           pair_column=pair_column, label_column=label_column)
    examples = []
    for index, row in enumerate(table):
        label = row.get(columns.label) if columns.label else None
        if label is not None and hasattr(label_feature, "int2str") and label >= 0:
            label = label_feature.int2str(label)
        row = {**row, columns.label: None if label is None or label == -1 else str(label)} if columns.label else row
        examples.append(_row_to_example(row, columns, f"hub:{name}:{hub_split}:{index}", require_label=False))
    return examples
