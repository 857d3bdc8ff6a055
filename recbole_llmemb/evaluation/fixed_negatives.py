"""The paper's sampled protocol with fixed negatives: each user's target ranked against N items.

RecBole's ``uniN`` mode redraws its negatives at every evaluation, from the global RNG, and can
repeat an item; here each user gets N distinct items they never interacted with (in any
split), drawn once from an RNG seeded by (seed, user id): identical across runs and models.
"""

from __future__ import annotations

import numpy as np
import torch


class FixedNegatives:
    """N distinct never-interacted items per user, drawn on first use and then kept."""

    def __init__(self, user_items: dict[int, set[int]], n_items: int, n: int, seed: int):
        if n <= 0:
            raise ValueError(f"eval_negatives: must be > 0 for the sampled protocol, got {n}")
        self.user_items, self.n_items, self.n, self.seed = user_items, n_items, n, seed
        self._drawn: dict[int, np.ndarray] = {}

    @classmethod
    def from_dataset(cls, dataset, n: int, seed: int) -> FixedNegatives:
        """Every user's items from a RecBole dataset's interactions (before the split)."""
        users = dataset.inter_feat[dataset.uid_field].numpy()
        items = dataset.inter_feat[dataset.iid_field].numpy()
        user_items: dict[int, set[int]] = {}
        for user, item in zip(users.tolist(), items.tolist(), strict=True):
            user_items.setdefault(user, set()).add(item)
        return cls(user_items, dataset.item_num, n, seed)

    def for_user(self, user: int) -> np.ndarray:
        """The user's negatives (sorted item ids); fewer than N only if fewer items are left."""
        if user not in self._drawn:
            seen = self.user_items.get(user, set())
            pool_size = self.n_items - 1 - len(seen - {0})
            rng = np.random.default_rng([self.seed, user])
            if pool_size <= self.n:
                chosen = np.setdiff1d(np.arange(1, self.n_items), np.fromiter(seen, dtype=np.int64))
            else:
                chosen = np.empty(0, dtype=np.int64)
                while len(chosen) < self.n:  # rejection sampling: the pool is far larger than N
                    draw = rng.integers(1, self.n_items, size=2 * self.n)
                    draw = draw[~np.isin(draw, list(seen))]
                    chosen = np.union1d(chosen, draw)  # union1d: distinct and sorted
                chosen = rng.permutation(chosen)[: self.n]
            self._drawn[user] = np.sort(chosen)
        return self._drawn[user]

    def candidate_mask(self, users: torch.Tensor) -> torch.Tensor:
        """``[len(users), n_items]`` booleans, True at each user's negatives."""
        mask = torch.zeros(len(users), self.n_items, dtype=torch.bool)
        for row, user in enumerate(users.tolist()):
            mask[row, torch.from_numpy(self.for_user(user))] = True
        return mask
