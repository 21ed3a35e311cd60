"""A linear head fitted to convergence on what it reads: L2-regularised logistic regression.

The head's output layer reads a pooled state (classification) or each labelled token's state
(tagging). `fit_head` runs the model once over the training rows, captures exactly those inputs,
standardises them on the training rows, chooses the regularisation strength C by k-fold
cross-validation on the training rows alone (never dev), and writes the fitted weights into the
head's linear layer, the standardisation folded in. The lab's `logistic-probe` row is this fit on a
prompt-free backbone; `--head-init probe` is this fit before the prompt trains (LP-FT).
"""
from __future__ import annotations

import time

import numpy as np
import torch

C_GRID = tuple(float(c) for c in np.logspace(-5, 3, 17))
"""Half-decade steps from strong to weak regularisation. From 1e-3 up, three of five SST-2 seeds at
n = 512 chose the edge, 1e-3; the grid reaches two decades below it."""
MAX_FOLDS = 5
IGNORE = -100
ABSENT_BIAS = -1e4
"""A label the training rows never show gets this bias: never predicted, as no data supports it."""


def one_blas_thread():
    """A context that runs BLAS on one thread: the probes' matrices (a few thousand positions by a
    few hundred features) are too small for OpenBLAS's threads to pay. Measured: the 150-sentence
    CoNLL start (layer choice and probe head) took 145 s with OpenBLAS's two threads and 67 s with
    one, on 2 cores. Torch's own threads are left alone."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@torch.no_grad()
def head_inputs(model, features: list[dict], *, pad_token_id: int, batch_size: int, autocast=None):
    """(inputs, targets, groups): what `model.head.out` reads for every labelled position, its label,
    and the example it comes from (folds never split an example). `model` maps a collated batch's
    (input_ids, attention_mask, token_type_ids) to logits through `model.head`; `autocast`, if given,
    makes a fresh precision context for each batch (accelerate's autocast)."""
    from contextlib import nullcontext

    captured = []
    hook = model.head.out.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    was_training = model.training
    model.eval()
    device = next(model.head.parameters()).device
    inputs, targets, groups = [], [], []
    try:
        for start in range(0, len(features), batch_size):
            batch = model.task.collate(features[start:start + batch_size], pad_token_id=pad_token_id)
            captured.clear()
            with autocast() if autocast is not None else nullcontext():
                model(**{k: (v.to(device) if v is not None else None) for k, v in (
                    ("input_ids", batch["input_ids"]), ("attention_mask", batch["attention_mask"]),
                    ("token_type_ids", batch.get("token_type_ids")))})
            states, labels = captured[0].float().cpu(), batch["labels"]
            index = torch.arange(start, start + len(labels))
            if labels.ndim == 1:
                inputs.append(states)
                targets.append(labels)
                groups.append(index)
            else:  # a tagger: every position that carries a label
                keep = labels != IGNORE
                inputs.append(states[keep])
                targets.append(labels[keep])
                groups.append(index[:, None].expand_as(labels)[keep])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(inputs).numpy(), torch.cat(targets).numpy(), torch.cat(groups).numpy()


def fit_head(model, features: list[dict], *, pad_token_id: int, batch_size: int, seed: int,
             scoring: str | None = None, autocast=None, grid: tuple[float, ...] = C_GRID) -> dict:
    """Fit `model.head.out` on `features` (see the module docstring); returns what was chosen:
    C, folds, the cross-validated score, labelled positions, iterations and seconds."""
    started = time.perf_counter()
    inputs, targets, groups = head_inputs(model, features, pad_token_id=pad_token_id, batch_size=batch_size,
                                          autocast=autocast)
    with one_blas_thread():
        return fit_linear(model, inputs, targets, groups, seed=seed, scoring=scoring, grid=grid, started=started)


def fit_linear(model, inputs, targets, groups, *, seed: int, scoring: str | None, grid, started: float) -> dict:
    """The regression of `fit_head` on captured inputs, written into `model.head.out`."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(inputs)
    scaled = scaler.transform(inputs)
    folds = cross_validation(targets, groups, seed=seed)
    if len(np.unique(targets)) == 1:  # one label in the training rows: it is the only answer they support
        write_head(model.head.out, np.zeros((1, inputs.shape[1])), np.zeros(1), np.unique(targets), scaler)
        return {"C": None, "cv_folds": 0, "cv_score": None, "train_positions": len(targets),
                "iterations": 0, "seconds": time.perf_counter() - started}
    if folds is None:  # a label with a single example: nothing to cross-validate on
        fitted = LogisticRegression(C=1.0, max_iter=5000).fit(scaled, targets)
        chosen, cv_score, n_folds = 1.0, None, 0
    else:
        splitter, n_folds = folds
        scoring = scoring or ("accuracy" if model.task.name == "classification" else "f1_macro")
        fitted = LogisticRegressionCV(Cs=list(grid), cv=list(splitter.split(scaled, targets, groups)),
                                      scoring=scoring, l1_ratios=(0.0,), use_legacy_attributes=False,
                                      max_iter=5000).fit(scaled, targets)
        chosen = float(fitted.C_)
        cv_score = float(np.max(fitted.scores_.mean(axis=0)))  # scores_: (folds, l1 ratios, Cs)
    write_head(model.head.out, fitted.coef_, fitted.intercept_, fitted.classes_, scaler)
    return {"C": chosen, "cv_folds": n_folds, "cv_score": cv_score, "train_positions": len(targets),
            "iterations": int(np.max(fitted.n_iter_)), "seconds": time.perf_counter() - started}


@torch.no_grad()
def write_head(out: torch.nn.Linear, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, scaler) -> None:
    """The fitted regression as `out`'s weights; labels it never saw get ABSENT_BIAS."""
    # standardisation folded into the layer: W((x - mean) / scale) + b = (W / scale) x + (b - W mean / scale)
    if len(classes) == 2 and coef.shape[0] == 1:  # sklearn's binary form: one logit for classes[1]
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = coef / scaler.scale_
    bias = intercept - weight @ scaler.mean_
    out.weight.zero_()
    out.bias.fill_(ABSENT_BIAS)
    rows = torch.as_tensor(classes, dtype=torch.long)
    out.weight[rows] = torch.as_tensor(weight, dtype=out.weight.dtype)
    out.bias[rows] = torch.as_tensor(bias, dtype=out.bias.dtype)


def cross_validation(targets: np.ndarray, groups: np.ndarray, *, seed: int):
    """(splitter, folds) stratified by label and grouped by example, or None when some label has a
    single example (or position group) and no fold could hold it out."""
    from sklearn.model_selection import StratifiedGroupKFold

    _, counts = np.unique(targets, return_counts=True)
    examples = len(np.unique(groups))
    folds = min(MAX_FOLDS, int(counts.min()), examples)
    if folds < 2 or len(counts) < 2:
        return None
    return StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed), folds
