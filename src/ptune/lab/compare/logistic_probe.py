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

from ptune.lab.compare.baselines import LinearProbe
from ptune.training.head_probe import ABSENT_BIAS, C_GRID, MAX_FOLDS, cross_validation, fit_head, head_inputs

__all__ = ["ABSENT_BIAS", "C_GRID", "MAX_FOLDS", "LogisticProbe", "cross_validation"]


class LogisticProbe(LinearProbe):
    """LinearProbe whose head is fitted by `fit_closed_form` (ptune.training.head_probe) instead of the training loop."""

    fits_in_closed_form = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fit_report: dict = {}

    def head_inputs(self, features: list[dict], *, pad_token_id: int, batch_size: int):
        return head_inputs(self, features, pad_token_id=pad_token_id, batch_size=batch_size)

    def fit_closed_form(self, features: list[dict], *, pad_token_id: int, batch_size: int, seed: int) -> dict:
        """Fit the head on `features`; returns (and keeps in `fit_report`) what was chosen."""
        self.fit_report = fit_head(self, features, pad_token_id=pad_token_id, batch_size=batch_size, seed=seed)
        return self.fit_report
