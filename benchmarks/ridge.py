"""Ridge diagnostics of item tables: how much of a target a linear map of the rows recovers."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_score


def ridge_r2(rows: np.ndarray, target: np.ndarray) -> float:
    """5-fold cross-validated R^2 of a ridge regression from item rows to ``target`` (1 or more columns).

    Folds are shuffled: item ids follow first appearance, which tracks popularity, so contiguous
    folds would test on a popularity range the fit never saw and understate the R^2."""
    split = KFold(5, shuffle=True, random_state=0)
    ridge = RidgeCV(alphas=[1, 10, 100, 1000])
    return float(cross_val_score(ridge, rows, target, cv=split, scoring="r2").mean())


def popularity_r2(rows: np.ndarray, popularity: np.ndarray) -> float:
    """How much of log(1 + popularity) a linear map of the item rows recovers (:func:`ridge_r2`)."""
    return ridge_r2(rows, np.log1p(popularity))
