"""Item popularity on the TRAINING split, and the tail / head / group partition built from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..settings import EvaluationSettings


def training_item_popularity(train_dataset, n_items: int) -> np.ndarray:
    """Training interactions per internal item id (index 0, padding, stays 0).

    RecBole's sequential training rows are prefixes: each row's target counts once, and a
    user's first item, which is never a target, counts once through the length-1 rows.
    """
    inter = train_dataset.inter_feat
    iid = train_dataset.iid_field
    items = inter[iid].numpy()
    history = inter[iid + train_dataset.config["LIST_SUFFIX"]].numpy()
    lengths = inter[train_dataset.config["ITEM_LIST_LENGTH_FIELD"]].numpy()
    firsts = history[lengths == 1, 0]
    counts = np.bincount(np.concatenate([items, firsts]), minlength=n_items)[:n_items]
    counts[0] = 0
    return counts


def training_history_lengths(train_dataset, n_users: int) -> np.ndarray:
    """Training interactions per internal user id: a user's sequence of n items gives n - 1
    prefix rows (the history length RecBole's ``item_length`` caps at MAX_ITEM_LIST_LENGTH)."""
    users = train_dataset.inter_feat[train_dataset.uid_field].numpy()
    rows = np.bincount(users, minlength=n_users)[:n_users]
    return np.where(rows > 0, rows + 1, 1)


@dataclass
class PopularityGroups:
    """Which items are tail / head and which of the popularity groups each falls in."""

    popularity: np.ndarray  # per internal item id
    tail: np.ndarray  # bool per item
    group: np.ndarray  # int per item: 0 .. len(bounds)
    bounds: tuple[int, ...]
    tail_rule: str

    @classmethod
    def build(
        cls,
        popularity: np.ndarray,
        head_ratio: float,
        tail_threshold: int | None,
        bounds: Sequence[int],
    ) -> PopularityGroups:
        """Tail = popularity < ``tail_threshold`` (the paper's rule), or else every item less
        popular than the item at the ``head_ratio`` rank (ties stay together, in the head)."""
        popularity = np.asarray(popularity)
        if tail_threshold is not None:
            cut, rule = int(tail_threshold), f"training popularity < {int(tail_threshold)}"
        else:
            ranked = np.sort(popularity[1:])[::-1]
            k = max(int(np.ceil(head_ratio * len(ranked))), 1)
            cut = int(ranked[k - 1])
            rule = f"outside the top {head_ratio:.0%} by training popularity (< {cut})"
        bounds = tuple(int(b) for b in bounds)
        tail = popularity < cut
        tail[0] = False
        group = np.searchsorted(np.asarray(bounds), popularity, side="right")
        return cls(popularity, tail, group, bounds, rule)

    @classmethod
    def from_config(cls, config, popularity: np.ndarray) -> PopularityGroups:
        settings = EvaluationSettings.from_config(config)
        return cls.build(
            popularity,
            head_ratio=float(settings.head_ratio),
            tail_threshold=settings.tail_threshold,
            bounds=settings.group_bounds,
        )

    def group_names(self) -> list[str]:
        """``['<5', '5-9', '10-19', '20-39', '>=40']`` for the default bounds."""
        edges = list(self.bounds)
        names = [f"<{edges[0]}"]
        names += [f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        return names + [f">={edges[-1]}"]

    def target_masks(self, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Boolean row masks by the popularity of each row's target item."""
        ids = targets.long().cpu().numpy()
        masks = {"tail": self.tail[ids], "head": ~self.tail[ids]}
        for i in range(len(self.bounds) + 1):
            masks[f"group{i + 1}"] = self.group[ids] == i
        return {key: torch.from_numpy(np.asarray(mask)) for key, mask in masks.items()}
