"""How a task adapter starts, before its first optimizer step.

- The prompt: as its encoder config's `init` made it (random rows, zeros, vocabulary rows), or from
  training text (`init="text"`): k tokens drawn from the training rows, and the rows set to what the
  frozen backbone itself computes for them: their word embeddings for input-level prompts, their
  keys and values in context, layer by layer, for deep prompts (prefix tuning's "prefill" start,
  with the task's own text). Or from another adapter (`TrainConfig.init_from`): a related task's
  prompt, or a multi-task run's.
- The head: random, or fitted to convergence on what it reads with the starting prompt
  (`TrainConfig.head_init="probe"`, LP-FT: the prompt then gets a useful gradient from step one).

`start_adapter` applies all of it to a fresh PTuningModel and says what it did.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from ptune.config import PTuningConfig, TrainConfig
from ptune.engine.batched import MODEL_INPUTS, default_collate
from ptune.errors import ConfigError
from ptune.injections import INJECTIONS, deep_attention

TEXT_INIT_ROWS = 64
"""Training rows the k prompt tokens are drawn from (fewer when the set is smaller)."""


def text_positions(features: list[dict], *, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` (row, position) pairs of real text tokens ([CLS] and the final [SEP] left out) from
    up to TEXT_INIT_ROWS training rows, drawn with `seed`; sorted. Repeats only when the rows hold
    fewer tokens than `count`."""
    rng = random.Random(f"text-init:{seed}")
    rows = sorted(rng.sample(range(len(features)), min(TEXT_INIT_ROWS, len(features))))
    pool = [(row, position) for row in rows for position in range(1, len(features[row]["input_ids"]) - 1)]
    if not pool:
        raise ConfigError("init", ["init='text': the training rows hold no text tokens to start the prompt from"])
    picks = rng.sample(pool, count) if len(pool) >= count else rng.choices(pool, k=count)
    return sorted(picks)


@torch.no_grad()
def text_rows(model, features: list[dict], *, seed: int, pad_token_id: int, autocast=None) -> torch.Tensor:
    """(k, width): the prompt rows `init="text"` starts from (see the module docstring)."""
    from contextlib import nullcontext

    prompted, k = model.prompted, model.num_virtual_tokens
    picks = text_positions(features, count=k, seed=seed)
    rows = sorted({row for row, _ in picks})
    batch = default_collate([features[r] for r in rows], pad_token_id=pad_token_id)
    device = prompted.word_embeddings.weight.device
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    where = {row: i for i, row in enumerate(rows)}
    index = torch.tensor([where[row] for row, _ in picks], device=device)
    position = torch.tensor([p for _, p in picks], device=device)
    if not INJECTIONS[model.config.injection].needs_attention_hook:  # rows among the input embeddings
        return prompted.word_embeddings(batch["input_ids"][index, position]).float()
    if prompted.family.hook != "interface":
        raise ConfigError("init", [f"init='text' for deep prompts reads the backbone's attention keys and values, "
                                   f"which ptune captures only on families routed through transformers' attention "
                                   f"interface; {prompted.config.model_type!r} is not; use init='random'"])
    was_training = prompted.model.training  # the backbone's own mode (dropout off unless the run keeps it on)
    prompted.model.eval()
    try:
        with deep_attention.captured_keys_values(prompted.attention_layers) as calls, \
                (autocast() if autocast is not None else nullcontext()):
            model.engine.states(**{name: batch.get(name) for name in MODEL_INPUTS})
    finally:
        prompted.model.train(was_training)
    if len(calls) != prompted.num_layers:
        raise ConfigError("init", [f"init='text': captured {len(calls)} attention calls, expected one per depth "
                                   f"({prompted.num_layers})"])
    # Each call: keys, values (batch, heads, seq, head_dim) -> per pick (heads * head_dim) each.
    per_layer = [torch.cat([keys[index, :, position].flatten(1), values[index, :, position].flatten(1)], dim=1)
                 for keys, values in calls]
    return torch.cat(per_layer, dim=1).float()  # (k, layers * 2 * key width), the deep prompt's row layout


def check_start(model, config: TrainConfig) -> None:
    """Refuses, before anything is written, a start this model cannot take: an `init_from` that is
    not a matching adapter, a probe head or layer choice for a task without a linear head."""
    if not starts_anything(model, config):
        return
    linear = hasattr(model.head, "out") and model.task.name in ("classification", "token_classification")
    for name, wanted in (("head_init='probe'", config.head_init == "probe"), ("choose_layer", config.choose_layer)):
        if wanted and not linear:
            raise ConfigError("start", [f"{name} fits a linear probe, for classification or token classification; "
                                        f"this run's task is {model.task.name!r}: leave it out"])
    if config.init_from:
        source_prompt(model, config.init_from)
    if config.contrastive_steps:
        from ptune.training.contrastive import check_contrastive

        check_contrastive(model)


def source_prompt(model, folder: str | Path):
    """(settings, adapter record, inference tensors) of the adapter `folder`, checked against `model`:
    the same injection and prompt shape, or a one-line refusal naming both."""
    from ptune.format.artifacts import CONFIG_FILE, INFERENCE_FILE, load_tensors, read_adapter_config

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise ConfigError("init_from", [f"init_from={str(folder)!r} is not an adapter folder ({CONFIG_FILE} is "
                                        "missing); give the --output folder of a finished `ptune train` run"])
    record = read_adapter_config(folder)
    try:
        source = PTuningConfig.from_dict(record["ptuning"])
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise ConfigError("init_from", [f"{folder / CONFIG_FILE}: damaged ptuning settings ({err})"]) from None
    mine = model.config
    if source.injection != mine.injection:
        raise ConfigError("init_from", [f"{folder} holds {source.injection} prompts, this run trains {mine.injection} "
                                        f"prompts; pass --injection {source.injection} or start from another adapter"])
    tensors = load_tensors(folder / INFERENCE_FILE)
    table, expected = tensors.get("prompt_table"), tuple(model.prompt_table.shape)
    if table is None or tuple(table.shape) != expected:
        found = tuple(table.shape) if table is not None else None
        raise ConfigError("init_from", [
            f"{folder}'s prompt is {found} (virtual tokens, width), this run's is {expected}: the number of virtual "
            f"tokens ({source.num_virtual_tokens} there, {mine.num_virtual_tokens} here) and the backbone must match; "
            f"pass --num-virtual-tokens {source.num_virtual_tokens} with the same --model"])
    return source, record, tensors


def start_from_adapter(model, folder: str | Path, *, label_names) -> list[str]:
    """Copies another adapter's prompt (and its head, for the same task and labels) into `model`.
    Returns what was copied; refuses, naming both, when the prompts' shapes or kinds differ."""
    from ptune.format.artifacts import ENCODER_FILE, load_tensors

    folder = Path(folder)
    source, record, tensors = source_prompt(model, folder)
    table, mine = tensors["prompt_table"], model.config
    done = []
    encoder = model.encoder
    same_encoder = source.encoder.to_dict() | {"init": None} == mine.encoder.to_dict() | {"init": None}
    if same_encoder and (folder / ENCODER_FILE).is_file():
        state = load_tensors(folder / ENCODER_FILE)
        if {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in encoder.state_dict().items()}:
            encoder.load_state_dict(state)
            done.append(f"prompt encoder from {folder}")
    if not done:
        if mine.encoder.name != "embedding":
            raise ConfigError("init_from", [
                f"{folder} has no {mine.encoder.name!r} encoder of this shape to copy, only its prompt table; a "
                f"table starts free prompt rows: pass --encoder embedding (or the source's settings)"])
        with torch.no_grad():
            encoder.embedding.weight.copy_(table)
        done.append(f"prompt rows from {folder}")
    same_labels = record.get("task", {}).get("type") == mine.task.name and \
        list(record.get("task", {}).get("label_names", [])) == [str(n) for n in label_names]
    head = {k[5:]: v for k, v in tensors.items() if k.startswith("head.")}
    if same_labels and {k: tuple(v.shape) for k, v in head.items()} == \
            {k: tuple(v.shape) for k, v in model.head.state_dict().items()}:
        model.head.load_state_dict(head)
        done.append("head (same task and labels)")
    return done


LAYER_CHOICE_ROWS = 500
"""Training rows (sentences) the layer choice fits its probes on at most: enough to rank six to
twelve layers, and a few seconds a layer, whatever the size of the training set."""
PROBE_ROWS = 500
"""Training rows the probe head is fitted on at most (a seeded sample of a larger set): an
initialisation, which a sample fits as well as the whole set, in seconds rather than minutes."""
LAYER_CHOICE_GRID = (0.01, 0.1, 1.0)
"""Regularisation strengths each layer's probe is tried at (its best counts): ranking layers needs
each one's score roughly, not its exact optimum."""
LAYER_CHOICE_FOLDS = 5


def out_of_fold_score(inputs, targets, groups, *, seed: int, metric: str, grid=LAYER_CHOICE_GRID) -> float | None:
    """The best, over `grid`, of a logistic probe's score on out-of-fold predictions (folds by
    example, so an example's positions are never split; scored pooled over every position):
    accuracy, or macro-F1 over the labels present (tagging, where most positions are O). A label
    absent from a fold's training part is simply never predicted there, so rare labels need no
    special case. None with fewer than two examples."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    from ptune.training.head_probe import one_blas_thread

    folds = min(LAYER_CHOICE_FOLDS, len(np.unique(groups)))
    if folds < 2:
        return None
    splits = list(GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(inputs, targets, groups))
    best = None
    with one_blas_thread():
        for strength in grid:
            predicted = np.empty_like(targets)
            for train, held in splits:
                seen = np.unique(targets[train])
                if len(seen) < 2:  # one label to learn from: it is the answer
                    predicted[held] = seen[0]
                    continue
                scaler = StandardScaler().fit(inputs[train])
                probe = LogisticRegression(C=strength, max_iter=2000).fit(scaler.transform(inputs[train]),
                                                                          targets[train])
                predicted[held] = probe.predict(scaler.transform(inputs[held]))
            score = (accuracy_score(targets, predicted) if metric == "accuracy"
                     else f1_score(targets, predicted, average="macro"))
            best = score if best is None else max(best, score)
    return float(best)


def choose_layer(model, features: list[dict], *, pad_token_id: int, batch_size: int, seed: int,
                 autocast=None) -> dict:
    """Sets `model.config.task.layer` to the layer whose logistic probe scores best out of fold on
    (up to LAYER_CHOICE_ROWS of) the training rows, with the prompt as it starts; layers 1 to N
    compete (the embeddings, 0, are a word lookup); ties go to the later layer. The head is not
    touched. Returns each layer's score and the choice."""
    from ptune.training.head_probe import head_inputs

    if model.task.name not in ("classification", "token_classification") or not hasattr(model.head, "out"):
        raise ConfigError("choose_layer", [f"choose_layer fits a linear probe per layer, for classification or token "
                                           f"classification with a linear head; this run's task is {model.task.name!r}"])
    rows = features
    if len(features) > LAYER_CHOICE_ROWS:
        rows = [features[i] for i in sorted(random.Random(f"layer:{seed}").sample(range(len(features)),
                                                                                 LAYER_CHOICE_ROWS))]
    settings = model.config.task
    metric = "accuracy" if model.task.name == "classification" else "macro_f1"
    depth = model.prompted.config.num_hidden_layers
    scores = {}
    try:
        for layer in range(1, depth + 1):
            settings.layer = layer
            inputs, targets, groups = head_inputs(model, rows, pad_token_id=pad_token_id, batch_size=batch_size,
                                                  autocast=autocast)
            scores[layer] = out_of_fold_score(inputs, targets, groups, seed=seed, metric=metric)
    finally:
        settings.layer = None
    if any(score is None for score in scores.values()):
        return {"layer": None, "scores": scores, "rows": len(rows), "metric": metric,
                "why": "fewer than two training rows: nothing to hold out"}
    best = max(scores, key=lambda layer: (scores[layer], layer))
    settings.layer = None if best == depth else best
    return {"layer": best, "scores": scores, "rows": len(rows), "metric": metric}


def start_adapter(model, train_features: list[dict], *, config: TrainConfig, pad_token_id: int, label_names,
                  accelerator=None) -> dict:
    """Applies init_from, init='text', choose_layer, the pair objective (contrastive_steps) and
    head_init='probe' to a fresh ptune model, in that order: the layer choice reads the prompt the
    run starts with, the pairs train what the head will read, the probe is fitted last. Returns a record
    of what was done. Every step is seeded, so a resumed run redoes the same start (the layer choice
    is part of the model) before its checkpoint replaces the trained weights."""
    check_start(model, config)
    record: dict = {}
    started = time.perf_counter()
    autocast = accelerator.autocast if accelerator is not None else None  # a fresh context per forward
    if accelerator is not None:
        model.to(accelerator.device)
    if config.init_from:
        if model.config.encoder.init == "text":
            raise ConfigError("init_from", ["init_from and init='text' both choose the starting prompt; give one"])
        record["init_from"] = start_from_adapter(model, config.init_from, label_names=label_names)
    elif model.config.encoder.init == "text":
        rows = text_rows(model, train_features, seed=config.seed, pad_token_id=pad_token_id, autocast=autocast)
        with torch.no_grad():
            model.encoder.embedding.weight.copy_(rows.to(model.encoder.embedding.weight.device))
        record["prompt"] = f"text: {model.num_virtual_tokens} tokens of the training rows"
    if config.choose_layer:  # before the pairs: after them every layer separates the training rows
        record["layer"] = choose_layer(model, train_features, pad_token_id=pad_token_id,
                                       batch_size=config.eval_batch_size, seed=config.seed, autocast=autocast)
    if config.contrastive_steps:  # on the layer the head reads
        from ptune.training.contrastive import train_pairs

        record["pairs"] = train_pairs(model, train_features, steps=config.contrastive_steps,
                                      batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                                      pad_token_id=pad_token_id, max_grad_norm=config.max_grad_norm,
                                      autocast=autocast)
    if config.head_init == "probe":
        from ptune.training.head_probe import fit_head

        rows = train_features  # an initialisation: a sample of a large set fits it as well, in seconds
        if len(rows) > PROBE_ROWS:
            rows = [rows[i] for i in sorted(random.Random(f"probe:{config.seed}").sample(range(len(rows)), PROBE_ROWS))]
        record["head"] = fit_head(model, rows, pad_token_id=pad_token_id, batch_size=config.eval_batch_size,
                                  seed=config.seed, autocast=autocast)
    record["seconds"] = time.perf_counter() - started  # what the start costs beside the training loop
    return record


def describe(record: dict) -> str:
    parts = []
    if "init_from" in record:
        parts.append("started from " + ", ".join(record["init_from"]))
    if "prompt" in record:
        parts.append("prompt from " + record["prompt"])
    if "pairs" in record:
        pairs = record["pairs"]
        parts.append(f"prompt trained {pairs['steps']} steps on pairs of training rows (loss "
                     f"{pairs['loss_first']:.3f} -> {pairs['loss_last']:.3f})")
    if "layer" in record:
        parts.append(f"head reads layer {record['layer']['layer']} (chosen by cross-validated probes on "
                     f"{record['layer']['rows']} training rows)")
    if "head" in record:
        head = record["head"]
        parts.append(f"head fitted as a probe (C {head['C']}, cross-validated score {head['cv_score']})")
    return "; ".join(parts)


def starts_anything(model, config: TrainConfig) -> bool:
    settings = getattr(model, "config", None)
    return isinstance(settings, PTuningConfig) and bool(
        config.init_from or config.head_init != "random" or settings.encoder.init == "text" or config.choose_layer
        or config.contrastive_steps)


__all__ = ["TEXT_INIT_ROWS", "describe", "start_adapter", "start_from_adapter", "starts_anything", "text_positions",
           "text_rows"]
