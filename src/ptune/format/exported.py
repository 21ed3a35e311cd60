"""The layout of an exported adapter folder (`ptune export`): its file names, the graph's inputs,
and reading its config. Free of torch, so `ptune predict` on an export starts fast.

Two layouts: `folded` (one model.onnx with the prompt and head inside, classification) and
`shared` (prompt.npy and head.onnx here, the backbone's graph in a folder many adapters share,
named by `backbone_graph`: `ptune serve --runtime onnx` runs every task from it)."""
from __future__ import annotations

import json
from pathlib import Path

from ptune.errors import ArtifactError
from ptune.format.adapter_checks import export_problems

EXPORT_FILE = "ptune_export.json"
MODEL_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ADAPTER_PROMPT_FILE = "prompt.npy"
HEAD_FILE = "head.onnx"
GRAPH_CONFIG_FILE = "ptune_graph.json"
PLACEMENTS = ("after_cls", "prefix")


def graph_file(placement: str) -> str:
    """The backbone graph with input-level prompts at `placement` (deep prompts join either)."""
    return f"backbone-{placement}.onnx"


def is_shared_export(folder: str | Path) -> bool:
    return is_export(folder) and not (Path(folder) / MODEL_FILE).is_file()


def is_export(folder: str | Path) -> bool:
    return (Path(folder) / EXPORT_FILE).is_file()


def read_export_config(folder: str | Path, *, tasks=None) -> dict:
    path = Path(folder) / EXPORT_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: damaged or unreadable ({err}); export the adapter again") from None
    if not isinstance(config, dict):
        raise ArtifactError(f"{path}: damaged, expected a JSON object; export the adapter again")
    shared = config.get("layout") == "shared"
    needed = (ADAPTER_PROMPT_FILE, HEAD_FILE) if shared else (MODEL_FILE,)
    missing = [key for key in ("task", "label_names", "max_text_length", "inputs") if key not in config]
    missing += [name for name in needed if not (Path(folder) / name).is_file()]
    if missing:
        raise ArtifactError(f"{folder}: an incomplete export (missing {missing}); export the adapter again")
    problems = export_problems(config, inputs=INPUTS, tasks=tasks)
    if problems:
        raise ArtifactError(f"{path}: refused, {'; '.join(problems)}. Export the adapter again")
    return config


def read_graph_config(folder: str | Path) -> dict:
    """A backbone graph folder's settings (ptune_graph.json), checked."""
    path = Path(folder) / GRAPH_CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{folder}: not a backbone graph folder (no {GRAPH_CONFIG_FILE}); export an adapter with "
                            "--backbone-graph into it first") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: damaged or unreadable ({err}); export the adapter again") from None
    problems = graph_problems(config)
    if not problems:
        problems = [f"{graph_file(p)} is missing" for p in config["placements"] if not (Path(folder) / graph_file(p)).is_file()]
    if problems:
        raise ArtifactError(f"{path}: refused, {'; '.join(problems)}. Export the adapter again")
    return config


def graph_problems(config) -> list[str]:
    if not isinstance(config, dict):
        return ["expected a JSON object"]
    problems = []
    backbone = config.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(backbone.get("fingerprint"), str):
        problems.append("backbone.fingerprint: expected a string")
    widths = config.get("injections")
    if not isinstance(widths, dict) or not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths.values()):
        problems.append(f"injections: expected {{name: width}}, found {widths!r}")
    placements = config.get("placements")
    if not isinstance(placements, list) or any(p not in PLACEMENTS for p in placements):
        problems.append(f"placements: expected a list drawn from {list(PLACEMENTS)}, found {placements!r}")
    pad = config.get("pad_token_id")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        problems.append(f"pad_token_id: expected a token id, found {pad!r}")
    return problems
