"""The layout of an exported adapter folder (`ptune export`): its file names, the graph's inputs,
and reading its config. Free of torch, so `ptune predict` on an export starts fast."""
from __future__ import annotations

import json
from pathlib import Path

from ptune.errors import ArtifactError
from ptune.format.adapter_checks import export_problems

EXPORT_FILE = "ptune_export.json"
MODEL_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORTED_TASKS = ("classification", "token_classification", "question_answering")


def is_export(folder: str | Path) -> bool:
    return (Path(folder) / EXPORT_FILE).is_file()


def read_export_config(folder: str | Path) -> dict:
    path = Path(folder) / EXPORT_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: damaged or unreadable ({err}); export the adapter again") from None
    if not isinstance(config, dict):
        raise ArtifactError(f"{path}: damaged, expected a JSON object; export the adapter again")
    missing = [key for key in ("task", "label_names", "max_text_length", "inputs") if key not in config]
    if missing or not (Path(folder) / MODEL_FILE).is_file():
        raise ArtifactError(f"{folder}: an incomplete export (missing {missing or [MODEL_FILE]}); export the adapter again")
    problems = export_problems(config, inputs=INPUTS, tasks=EXPORTED_TASKS)
    if problems:
        raise ArtifactError(f"{path}: refused, {'; '.join(problems)}. Export the adapter again")
    return config
