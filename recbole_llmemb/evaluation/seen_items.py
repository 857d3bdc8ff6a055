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

SETTINGS = ("auto", True, False)


def has_repeated_items(users: np.ndarray, items: np.ndarray) -> bool:
    """True when some user has the same item twice."""
    pairs = users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items.astype(np.int64)
    return len(np.unique(pairs)) < len(pairs)


def resolve(setting, dataset) -> bool:
    """Whether to exclude history on ``dataset`` (before the split): ``auto`` is on unless items repeat."""
    if setting not in SETTINGS:
        raise ValueError(f"eval_exclude_history: {setting!r} is not one of auto, True, False")
    if setting != "auto":
        return bool(setting)
    feat = dataset.inter_feat
    return not has_repeated_items(feat[dataset.uid_field].numpy(), feat[dataset.iid_field].numpy())


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
        """Every row's target, and the first item of each length-1 row (never a target)."""
        feat, config = train_dataset.inter_feat, train_dataset.config
        iid, uid = train_dataset.iid_field, train_dataset.uid_field
        lengths = feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy()
        first = lengths == 1
        users = np.concatenate([feat[uid].numpy(), feat[uid].numpy()[first]])
        items = np.concatenate([feat[iid].numpy(), feat[iid + config["LIST_SUFFIX"]].numpy()[first, 0]])
        return cls(users, items, n_users, n_items)

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
