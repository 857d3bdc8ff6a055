"""``eval_exclude_history``: full ranking without each user's own earlier items.

RecBole's full ranking of a sequential model keeps the user's history among the candidates;
many papers (and the public CE SASRec of the amazon-beauty split) remove it. An evaluated row's
history is its user's training items plus its input window: at validation the training items;
at test those and the validation item (the window's last item).

On data where users repeat items (yelp), removing the history would remove true targets: ``auto``
then keeps the history, as the public code does; ``True`` removes it but never a row's own target.
"""

from __future__ import annotations

import numpy as np
import torch


def has_repeated_items(users: np.ndarray, items: np.ndarray) -> bool:
    """True when some user has the same item twice."""
    pairs = users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items.astype(np.int64)
    return len(np.unique(pairs)) < len(pairs)


def interactions(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(users, items)`` of every interaction behind RecBole's prefix rows: each row's target, and
    the first item of each length-1 row (a user's first item is never a target)."""
    feat, config = dataset.inter_feat, dataset.config
    users, items = feat[dataset.uid_field].numpy(), feat[dataset.iid_field].numpy()
    first = feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy() == 1
    firsts = feat[dataset.iid_field + config["LIST_SUFFIX"]].numpy()[first, 0]
    return np.concatenate([users, users[first]]), np.concatenate([items, firsts])


def resolve(setting, dataset) -> bool:
    """Whether to exclude history on ``dataset`` (RecBole's prefix rows of a split or of all of them):
    ``auto`` is on unless some user has an item twice."""
    if setting != "auto":
        return bool(setting)
    return not has_repeated_items(*interactions(dataset))


class SeenItems:
    """Each user's training items (from RecBole's prefix rows), as a sparse user x item matrix."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
        order = np.lexsort((items, users))
        users, items = users[order], items[order]
        self.indptr = np.searchsorted(users, np.arange(n_users + 1))
        self.items = items
        self.n_items = n_items

    @classmethod
    def from_training_rows(cls, train_dataset, n_users: int, n_items: int) -> SeenItems:
        """The training split's :func:`interactions`."""
        return cls(*interactions(train_dataset), n_users, n_items)

    def mask(self, users: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """``[len(users), n_items]`` booleans, True at each row's user's training items and window items."""
        users = users.cpu().numpy()
        starts, counts = self.indptr[users], self.indptr[users + 1] - self.indptr[users]
        rows = np.repeat(np.arange(len(users)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        mask = torch.zeros(len(users), self.n_items, dtype=torch.bool)
        mask[torch.from_numpy(rows), torch.from_numpy(self.items[np.repeat(starts, counts) + offsets])] = True
        mask.scatter_(1, windows.cpu(), True)
        mask[:, 0] = False  # padding: RecBole scores it -inf already
        return mask
