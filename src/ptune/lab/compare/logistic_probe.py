"""The linear probe fitted to convergence: logistic regression on the frozen backbone's features.

The `linear-probe` row trains ptune's head with the step budget of the protocol (100 Adam steps
on a learning curve). With a few hundred rows that can stop short of the head's optimum, and its
regularisation is never chosen. This row fits the same head in closed form: scikit-learn's
L2-regularised logistic regression on exactly what the head reads (the pooled state for
classification, each labelled token's state for tagging), standardised on the training rows, its
strength C chosen by k-fold cross-validation on the training rows alone (never dev). The fitted
weights are written into the head, so the model is then evaluated, saved and served as every
other linear probe is.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ptune.lab.compare.baselines import LinearProbe

C_GRID = tuple(float(c) for c in np.logspace(-5, 3, 17))
"""Half-decade steps from strong to weak regularisation. From 1e-3 up, three of five SST-2 seeds at
n = 512 chose the edge, 1e-3; the grid reaches two decades below it."""
MAX_FOLDS = 5
IGNORE = -100
ABSENT_BIAS = -1e4
"""A label the training rows never show gets this bias: never predicted, as no data supports it."""


class LogisticProbe(LinearProbe):
    """LinearProbe whose head is fitted by `fit_closed_form` instead of the training loop."""

    fits_in_closed_form = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fit_report: dict = {}

    @torch.no_grad()
    def head_inputs(self, features: list[dict], *, pad_token_id: int, batch_size: int):
        """(inputs, targets, groups): what the head's output layer reads for every labelled
        position, its label, and the example it comes from (folds never split an example)."""
        captured = []
        hook = self.head.out.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
        self.eval()
        inputs, targets, groups = [], [], []
        try:
            for start in range(0, len(features), batch_size):
                batch = self.task.collate(features[start:start + batch_size], pad_token_id=pad_token_id)
                captured.clear()
                self(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
                states, labels = captured[0].float(), batch["labels"]
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
        return torch.cat(inputs).numpy(), torch.cat(targets).numpy(), torch.cat(groups).numpy()

    def fit_closed_form(self, features: list[dict], *, pad_token_id: int, batch_size: int, seed: int) -> dict:
        """Fit the head on `features`; returns (and keeps in `fit_report`) what was chosen."""
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.preprocessing import StandardScaler

        started = time.perf_counter()
        inputs, targets, groups = self.head_inputs(features, pad_token_id=pad_token_id, batch_size=batch_size)
        scaler = StandardScaler().fit(inputs)
        scaled = scaler.transform(inputs)
        folds = cross_validation(targets, groups, seed=seed)
        if len(np.unique(targets)) == 1:  # one label in the training rows: it is the only answer they support
            self._write_head(np.zeros((1, inputs.shape[1])), np.zeros(1), np.unique(targets), scaler)
            self.fit_report = {"C": None, "cv_folds": 0, "cv_score": None, "train_positions": len(targets),
                               "iterations": 0, "seconds": time.perf_counter() - started}
            return self.fit_report
        if folds is None:  # a label with a single example: nothing to cross-validate on
            model = LogisticRegression(C=1.0, max_iter=5000).fit(scaled, targets)
            chosen, cv_score, n_folds = 1.0, None, 0
        else:
            splitter, n_folds = folds
            scoring = "accuracy" if self.task.name == "classification" else "f1_macro"
            model = LogisticRegressionCV(Cs=list(C_GRID), cv=list(splitter.split(scaled, targets, groups)),
                                         scoring=scoring, l1_ratios=(0.0,), use_legacy_attributes=False,
                                         max_iter=5000).fit(scaled, targets)
            chosen = float(model.C_)
            cv_score = float(np.max(model.scores_.mean(axis=0)))  # scores_: (folds, l1 ratios, Cs)
        self._write_head(model.coef_, model.intercept_, model.classes_, scaler)
        self.fit_report = {"C": chosen, "cv_folds": n_folds, "cv_score": cv_score, "train_positions": len(targets),
                           "iterations": int(np.max(model.n_iter_)), "seconds": time.perf_counter() - started}
        return self.fit_report

    @torch.no_grad()
    def _write_head(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, scaler) -> None:
        # standardisation folded into the layer: W((x - mean) / scale) + b = (W / scale) x + (b - W mean / scale)
        if len(classes) == 2 and coef.shape[0] == 1:  # sklearn's binary form: one logit for classes[1]
            coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        weight = coef / scaler.scale_
        bias = intercept - weight @ scaler.mean_
        out = self.head.out
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
