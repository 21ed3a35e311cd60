"""`ptune export --backbone-graph DIR`: adapters served from one ONNX graph of their backbone.

The backbone is exported once per placement of input-level prompts, with every injection's prompt
rows and mask as graph inputs (`{injection}_rows`, `{injection}_mask`), so rows of different
adapters and tasks run in one ONNX call exactly as `Engine.run_groups` runs them. Each adapter
export holds only its folded prompt table (`prompt.npy`), its head as a small graph (`head.onnx`)
and `ptune_export.json`; the shared graph folder holds the backbone graph(s), the tokenizer and
`ptune_graph.json`. `ptune.inference.onnx_engine` runs them without torch.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ptune.engine.prompted import BackboneOutput, PromptedBackbone
from ptune.errors import PtuneError
from ptune.format.exported import (
    ADAPTER_PROMPT_FILE,
    EXPORT_FILE,
    GRAPH_CONFIG_FILE,
    HEAD_FILE,
    INPUTS,
    graph_file,
    read_graph_config,
)
from ptune.format.files import atomic_write, check_output_folder
from ptune.format.lock import LOCK_NAME, output_lock
from ptune.injections import INJECTIONS, PromptPart, Prompts
from ptune.tasks import get_task


class PromptedGraph(nn.Module):
    """The prompted backbone with each injection's per-row prompts and mask as inputs: states of
    every layer (layers + 1, batch, k + seq, hidden) and their mask (batch, k + seq). A row without
    a given injection's prompt has that injection's mask all 0 (a masked row changes nothing)."""

    def __init__(self, engine, placement: str, injections: tuple[str, ...]):
        super().__init__()
        self.engine, self.placement, self.injections = engine, placement, injections

    def forward(self, input_ids, attention_mask, token_type_ids, *prompt_inputs):
        parts = {name: PromptPart(rows=prompt_inputs[2 * i], mask=prompt_inputs[2 * i + 1])
                 for i, name in enumerate(self.injections)}
        output = self.engine.backbone_forward(input_ids, attention_mask, token_type_ids,
                                              prompts=Prompts(parts=parts, placement=self.placement))
        return torch.stack([layer.float() for layer in output.layers]), output.mask


class HeadGraph(nn.Module):
    """One adapter's head over the states of the layer it reads: (states (rows, k + seq, hidden),
    mask (rows, k + seq), text_index (seq,), input_ids (rows, seq)) -> its logits."""

    def __init__(self, adapter, prompted: PromptedBackbone):
        super().__init__()
        self.adapter, self.prompted = adapter, prompted

    def forward(self, states, mask, text_index, input_ids):
        # [CLS] is the text's first token in both placements: text_index[0] is where it sits.
        output = BackboneOutput(states=states, mask=mask, text_index=text_index, cls_index=text_index[0],
                                input_ids=input_ids, prompted=self.prompted)
        return self.adapter.logits(output).float()


def prompt_injections() -> tuple[str, ...]:
    """Every registered injection that adds prompt rows, in registry order (the graph's inputs)."""
    return tuple(INJECTIONS)


@contextmanager
def quiet_onnx_export():
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # notes about absent torchvision ops, which no ptune model uses
    try:
        with warnings.catch_warnings():  # and about shared dimension names
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_backbone_graph(engine, folder: Path, placement: str) -> Path:
    """Export the prompted backbone for one placement into `folder` (atomic), with prompt inputs
    of a dynamic length per injection. Returns the graph's path."""
    injections = prompt_injections()
    for name in injections:
        engine.prompted.prepare_for(name)
    graph = PromptedGraph(engine, placement, injections).eval()
    batch, length, k = 2, 7, 3
    ids = torch.full((batch, length), 1000, dtype=torch.long)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, -2:] = 0
    example = [ids, mask, torch.zeros_like(ids)]
    dims = {"input_ids": {0: torch.export.Dim("batch"), 1: torch.export.Dim("length", min=2,
                                                                          max=engine.prompted.positions.limit)}}
    dims["attention_mask"] = dims["token_type_ids"] = dims["input_ids"]
    names = list(INPUTS)
    for name in injections:
        width = INJECTIONS[name].width(engine.prompted)
        example += [torch.randn(batch, k, width) * 0.02, torch.tensor([[1, 1, 0], [1, 0, 0]])]
        size = torch.export.Dim(f"{name}_tokens", min=1, max=4096)
        dims[f"{name}_rows"] = {0: dims["input_ids"][0], 1: size}
        dims[f"{name}_mask"] = {0: dims["input_ids"][0], 1: size}
        names += [f"{name}_rows", f"{name}_mask"]
    path = folder / graph_file(placement)
    shapes = {name: dims[name] for name in INPUTS}
    shapes["prompt_inputs"] = tuple(dims[name] for name in names[len(INPUTS):])
    with torch.inference_mode(False), torch.no_grad(), quiet_onnx_export():
        program = torch.onnx.export(graph, tuple(example), input_names=names, output_names=["states", "mask"],
                                    dynamic_shapes=shapes, dynamo=True, verbose=False)
    atomic_write(path, lambda temp: program.save(str(temp)))
    return path


def write_head(adapter, prompted: PromptedBackbone, path: Path) -> None:
    head = HeadGraph(adapter, prompted).eval()
    rows, k, length, hidden = 2, 3, 7, prompted.hidden_size
    example = (torch.randn(rows, k + length, hidden), torch.ones(rows, k + length, dtype=torch.long),
               torch.cat([torch.arange(1), torch.arange(1 + k, k + length)]), torch.full((rows, length), 1000))
    batch, total, text = torch.export.Dim("rows"), torch.export.Dim("positions", min=2), torch.export.Dim("length", min=2)
    dims = ({0: batch, 1: total}, {0: batch, 1: total}, {0: text}, {0: batch, 1: text})
    with torch.inference_mode(False), torch.no_grad(), quiet_onnx_export():
        program = torch.onnx.export(head, example, input_names=["states", "mask", "text_index", "input_ids"],
                                    output_names=["logits"], dynamic_shapes=dims, dynamo=True, verbose=False)
    atomic_write(path, lambda temp: program.save(str(temp)))


def graph_settings(prompted: PromptedBackbone, tokenizer, backbone: dict) -> dict:
    return {"backbone": backbone, "injections": {name: INJECTIONS[name].width(prompted) for name in prompt_injections()},
            "hidden_size": prompted.hidden_size, "position_limit": prompted.positions.limit,
            "accepts_position_ids": prompted.positions.accepts_position_ids,
            "pad_token_id": tokenizer.pad_token_id, "placements": [],
            # what the backbone's own tokenizer class returns (BERT's: token type ids too), which the
            # generic fast tokenizer the ONNX runtime loads would not know
            "model_input_names": list(tokenizer.model_input_names)}


def export_with_backbone_graph(adapter: str | Path, output: str | Path, graph_folder: str | Path, *,
                               overwrite: bool = False, model_name: str | None = None,
                               allow_backbone_mismatch: bool = False) -> dict:
    """Write `adapter`'s parts into `output` and make sure `graph_folder` holds its backbone's graph
    for the adapter's placement (exported on first use; an existing graph of other weights is refused)."""
    from ptune.engine.model import load_adapter

    output, graph_folder = check_output_folder(output), check_output_folder(graph_folder, flag="--backbone-graph")
    if output.resolve() == graph_folder.resolve():
        raise PtuneError(f"--output {output} and --backbone-graph {graph_folder} are one folder: give each its own "
                         "(the graph folder is shared by every adapter exported against it)")
    for folder, what in ((output, "--output"), (graph_folder, "--backbone-graph")):
        if (folder / "ptune_config.json").exists() or (folder / "run_config.json").exists():
            raise PtuneError(f"{what} {folder}: that folder holds an adapter or run; export into another folder")
    if (output / EXPORT_FILE).exists() and not overwrite:
        raise PtuneError(f"--output {output}: an export is there already; pass --overwrite to replace it, or choose "
                         "another folder")
    model, tokenizer, config = load_adapter(adapter, model_name=model_name, allow_backbone_mismatch=allow_backbone_mismatch)
    model.eval()
    placement = model.adapter.config.placement if model.input_tokens else "after_cls"
    graph_folder.mkdir(parents=True, exist_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    with output_lock(graph_folder, command="ptune export"):
        settings = ensure_graph(model.engine, tokenizer, config["backbone"], graph_folder, placement)
    with output_lock(output, command="ptune export"):
        if (output / EXPORT_FILE).exists() and not overwrite:
            raise PtuneError(f"--output {output}: an export is there already; pass --overwrite to replace it")
        write_adapter_parts(model, config, output, graph_folder, placement)
    difference = check_parts_against_torch(model, tokenizer, output)
    return {"output": str(output), "graph": str(graph_folder), "placements": settings["placements"],
            "max_abs_logit_difference": difference}


def ensure_graph(engine, tokenizer, backbone: dict, folder: Path, placement: str) -> dict:
    """The graph folder's settings, with `placement`'s graph exported when it is not there yet."""
    if (folder / GRAPH_CONFIG_FILE).exists():
        settings = read_graph_config(folder)
        if settings["backbone"]["fingerprint"] != backbone["fingerprint"]:
            raise PtuneError(f"--backbone-graph {folder}: it holds the graph of other backbone weights "
                             f"({settings['backbone'].get('name')}, fingerprint {settings['backbone']['fingerprint'][:12]}); "
                             "export this adapter against a graph folder of its own backbone")
    else:  # a new folder, or one an interrupted export left without its config
        if any(not is_graph_folder_file(entry.name) for entry in folder.iterdir()):
            raise PtuneError(f"--backbone-graph {folder}: not empty and not a backbone graph folder; give an empty or "
                             "new folder")
        settings = graph_settings(engine.prompted, tokenizer, backbone)
    if placement not in settings["placements"]:
        write_backbone_graph(engine, folder, placement)
        tokenizer.save_pretrained(folder)
        settings["placements"] = sorted(settings["placements"] + [placement])
        text = json.dumps(settings, indent=2) + "\n"
        atomic_write(folder / GRAPH_CONFIG_FILE, lambda temp: temp.write_text(text))
    return settings


def is_graph_folder_file(name: str) -> bool:
    """Files an export writes into a graph folder before its config (an interrupted one leaves them)."""
    return name == LOCK_NAME or name.startswith(("backbone-", "tokenizer", "vocab", "special_tokens", "merges",
                                                 "spiece", "sentencepiece", "added_tokens", "."))


def write_adapter_parts(model, config: dict, output: Path, graph_folder: Path, placement: str) -> None:
    """prompt.npy, head.onnx, then ptune_export.json last (its presence means a whole export)."""
    adapter = model.adapter
    with torch.no_grad():
        table = adapter.prompt().float().cpu().numpy()
    write_head(adapter, model.prompted, output / HEAD_FILE)

    def save_table(temp: Path) -> None:
        with open(temp, "wb") as handle:
            np.save(handle, table, allow_pickle=False)

    atomic_write(output / ADAPTER_PROMPT_FILE, save_table)
    task = get_task(config["task"]["type"])
    settings = {
        "layout": "shared", "task": config["task"]["type"], "label_names": config["task"]["label_names"],
        "max_text_length": model.max_text_length(), "inputs": list(INPUTS),
        "backbone": config["backbone"], "ptuning": config["ptuning"], "recorded_inputs": config.get("inputs"),
        "input_form": task.served_input_form(config.get("inputs")),
        "injection": adapter.config.injection, "placement": placement,
        "forward_key": INJECTIONS[adapter.config.injection].forward_key(adapter.config), "prompt_rows": int(table.shape[0]),
        "layer": adapter.config.task.layer, "dev_metrics": config.get("dev_metrics", {}),
        "label_aliases": config.get("label_aliases"),
        "backbone_graph": os.path.relpath(graph_folder.resolve(), output.resolve()),
    }
    text = json.dumps(settings, indent=2) + "\n"
    atomic_write(output / EXPORT_FILE, lambda temp: temp.write_text(text))


def check_parts_against_torch(model, tokenizer, output: Path) -> float:
    """Largest |logit difference| between the ONNX engine and PyTorch on a padded batch."""
    from ptune.inference.onnx_engine import OnnxAdapter, OnnxEngine

    texts = ["a check batch", "with sentences of quite different lengths, so that padding matters here", "ok"]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=model.max_text_length(), return_tensors="pt")
    feeds = {name: batch.get(name, torch.zeros_like(batch["input_ids"])) for name in INPUTS}
    adapter = OnnxAdapter.load(output)
    engine = OnnxEngine(adapter.graph_folder)
    onnx_logits = engine.mixed_logits(*(feeds[name].numpy() for name in INPUTS), adapters=[adapter] * len(texts))
    with torch.inference_mode():
        torch_logits = model(**feeds).float().numpy()
    keep = batch["attention_mask"].bool().numpy()
    worst = 0.0
    for row, found in enumerate(onnx_logits):
        expected = torch_logits[row][keep[row]] if torch_logits.ndim == 3 else torch_logits[row]
        found = found[keep[row]] if torch_logits.ndim == 3 else found
        worst = max(worst, float(np.abs(found - expected).max()))
    return worst
