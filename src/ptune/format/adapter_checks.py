"""What an adapter or export folder may say, checked once at load (predict, eval, serve, --adapter-dir,
Hub downloads): an adapter is data from whoever made it, so none of its fields is trusted.

- every field has its type and range (the ptuning settings through their own dataclasses);
- label names are distinct, non-empty strings (answers are keyed by them);
- every tensor is finite (a NaN in a head answers NaN to every request);
- the backbone is a Hub id, the bundled model, or a local folder this user named to ptune before
  (ptune.format.trusted_backbones): any other local path recorded by an adapter is never read, since
  an adapter from a stranger would choose what is read from this disk; `--model PATH` loads it.
"""
from __future__ import annotations

import os
import re

from ptune.errors import ArtifactError
from ptune.format.trusted_backbones import is_trusted

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
"""A Hub repo id: `name` or `owner/name`, no path parts (`..`, a leading `/`, `~`)."""


def label_name_problems(names, where: str = "task.label_names") -> list[str]:
    if not isinstance(names, list) or not names:
        return [f"{where}: expected a non-empty list of label names, found {names!r}"]
    wrong = [name for name in names if not isinstance(name, str) or not name.strip()]
    if wrong:
        return [f"{where}: every label name must be a non-empty string, found {wrong[:3]!r}"]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return [f"{where}: label names must be distinct, {repeated[:3]!r} appear more than once"]
    return []


def config_problems(config: dict) -> list[str]:
    """The problems of an adapter's ptune_config.json, beyond its ptuning settings (checked by
    PTuningConfig itself); [] when it is sound."""
    task, backbone = config["task"], config["backbone"]
    problems = []
    if not isinstance(task.get("type", "classification"), str):
        problems.append(f"task.type: expected a task name, found {task.get('type')!r}")
    problems += label_name_problems(task["label_names"])
    for key in ("name", "fingerprint"):
        if not isinstance(backbone.get(key), str) or not backbone[key]:
            problems.append(f"backbone.{key}: expected a string, found {backbone.get(key)!r}")
    if backbone.get("hub_id") is not None and not (isinstance(backbone["hub_id"], str) and is_hub_id(backbone["hub_id"])):
        problems.append(f"backbone.hub_id: expected a Hub repo id such as org/model, found {backbone['hub_id']!r}")
    aliases = config.get("label_aliases", {})
    if aliases is not None and not isinstance(aliases, dict):
        problems.append(f"label_aliases: expected a mapping, found {type(aliases).__name__}")
    return problems


def is_hub_id(name: str) -> bool:
    return bool(HUB_ID.match(name)) and ".." not in name


def export_problems(config: dict, *, inputs: tuple, tasks=None) -> list[str]:
    """The problems of an export's ptune_export.json; [] when it is sound. `tasks`: the task names the
    reader can run (the task registry, which sits above this room); None checks only that a name is there."""
    problems = []
    task = config.get("task")
    if tasks is not None and task not in tasks:
        problems.append(f"task: expected one of {sorted(tasks)}, found {task!r}")
    elif not isinstance(task, str) or not task.replace("_", "").isalnum():
        problems.append(f"task: expected a task name such as 'classification', found {task!r}")
    problems += label_name_problems(config.get("label_names"), "label_names")
    length = config.get("max_text_length")
    if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= 1_000_000:
        problems.append(f"max_text_length: expected a whole number of at least 2, found {length!r}")
    given = config.get("inputs")
    if not isinstance(given, list) or not given or any(name not in inputs for name in given):
        problems.append(f"inputs: expected a list drawn from {list(inputs)}, found {given!r}")
    return problems


def tensor_problems(tensors: dict) -> list[str]:
    """Names of tensors holding NaN or infinite values."""
    import torch

    return [name for name, tensor in tensors.items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]


def recorded_backbone(directory, record: dict) -> str:
    """The backbone an adapter may name by itself: the bundled model, a Hub id (the recorded one, or the
    Hub repo a local copy came from), or a local folder the user named before. Any other local path is
    refused with the flag that loads it."""
    from ptune.format.hub_ids import BUNDLED

    name, hub_id = record["name"], record.get("hub_id")
    if name == BUNDLED or name == "bundled":
        return name
    if is_hub_id(name) and not os.path.exists(name):
        return name
    if os.path.isdir(name) and is_trusted(name):
        return name
    if hub_id:
        return hub_id
    raise ArtifactError(f"{directory} names the local backbone {name!r}, a folder not given to ptune on this machine "
                        "(an adapter never chooses by itself what is read from this disk): pass --model PATH "
                        "(model_name=PATH) naming the folder of that backbone")


def finite_or_refuse(path, tensors: dict) -> None:
    broken = tensor_problems(tensors)
    if broken:
        raise ArtifactError(f"{path}: {', '.join(broken[:5])} hold NaN or infinite values; the adapter is damaged "
                            "(or came from a run that diverged): restore it from a copy or train again")
