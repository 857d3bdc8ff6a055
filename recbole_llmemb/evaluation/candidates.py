"""The items a test row's target is ranked against, as the main evaluator ranks them.

Full ranking: every item (RecBole sets the padding's score to -inf before). ``negatives``: only
the target and the user's fixed negatives. ``seen``: without the row's history, but never
without its target (a repeated item stays a candidate).
"""

from __future__ import annotations

import numpy as np
import torch

from .fixed_negatives import FixedNegatives
from .seen_items import SeenItems


def restrict_to_candidates(
    scores: torch.Tensor,
    users: torch.Tensor,
    windows: torch.Tensor | None,
    positive_u: torch.Tensor,
    positive_i: torch.Tensor,
    negatives: FixedNegatives | None = None,
    seen: SeenItems | None = None,
) -> torch.Tensor:
    """``scores`` ``[rows, n_items]`` with -inf at every item that is not a candidate of its row.

    ``users`` and ``windows`` (the input item ids, read only with ``seen``) per row;
    ``(positive_u, positive_i)``: each row's target, as RecBole's evaluation batches give them.
    """
    rows, targets = positive_u.cpu(), positive_i.cpu()
    if negatives is not None:
        keep = negatives.candidate_mask(users.cpu())
        keep[rows, targets] = True
        scores = scores.masked_fill(~keep.to(scores.device), -np.inf)
    if seen is not None:
        history = seen.mask(users.cpu(), windows)
        history[rows, targets] = False
        scores = scores.masked_fill(history.to(scores.device), -np.inf)
    return scores
