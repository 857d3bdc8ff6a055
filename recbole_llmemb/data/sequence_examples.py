"""Whole-sequence training examples: each user's training sequence once, instead of every prefix.

RecBole turns every prefix of a user's sequence into its own training row (``u, <i1..ik> | ik+1``)
and trains only its last position. A causal model (SASRec, GRU4Rec) computes every prefix's
output in one pass over the longest one, so keeping one row per user (per window of
``MAX_ITEM_LIST_LENGTH`` items) and training every position gives the same (context, target)
pairs at a fraction of the passes (amazon-beauty: 22,363 rows instead of 131,413).
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.data.dataloader import TrainDataLoader

from ..settings import TrainingSettings


def whole_sequence_rows(
    user_ids: np.ndarray, item_seq: np.ndarray, item_seq_len: np.ndarray, targets: np.ndarray, max_length: int
) -> np.ndarray:
    """Row indices of RecBole's prefix rows that cover every training target once.

    Rows are RecBole's augmented training rows, a user's rows contiguous and in time order. Of a
    user's rows, the last and every ``max_length``-th before it are kept: row ``t`` holds the
    window of (at most) ``max_length`` items before target ``t``, so its positions predict
    targets ``t - max_length + 1 .. t`` and the kept rows tile the sequence without overlap.
    """
    n = len(user_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.arange(n)
    # A user's rows are one run; the check below fails loudly if RecBole's order ever changes.
    starts_run = np.r_[True, user_ids[1:] != user_ids[:-1]]
    ends_run = np.r_[user_ids[1:] != user_ids[:-1], True]
    run_id = np.cumsum(starts_run) - 1
    run_end = np.flatnonzero(ends_run)[run_id]
    from_end = run_end - order
    same_user = ~starts_run
    previous_target_is_last_item = (
        item_seq[order[same_user], item_seq_len[same_user] - 1] == targets[order[same_user] - 1]
    )
    if not previous_target_is_last_item.all():
        raise ValueError(
            "train_regime: sequence needs each user's training rows in time order (RecBole's data"
            " augmentation); this dataset's rows are not: set train_regime: prefix"
        )
    return order[from_end % max_length == 0]


def append_target(item_seq: torch.Tensor, item_seq_len: torch.Tensor, targets: torch.Tensor) -> tuple:
    """``(item_seq with the target after the last item, new lengths)``; a full window drops its first item.

    For masked models (BERT4Rec), whose training masks items inside the sequence: the row's target
    must be in the sequence to be learnt.
    """
    rows = torch.arange(item_seq.shape[0])
    full = item_seq_len >= item_seq.shape[1]
    extended = torch.cat([item_seq, torch.zeros_like(item_seq[:, :1])], dim=1)
    extended[rows, item_seq_len] = targets
    shifted = torch.where(full.unsqueeze(1), extended[:, 1:], extended[:, :-1])
    return shifted, torch.where(full, item_seq_len, item_seq_len + 1)


def length_bucketed_order(
    lengths: np.ndarray, batch_size: int, window: int, rng: np.random.Generator
) -> np.ndarray:
    """A shuffled order of the rows whose batches hold sequences of similar length.

    The rows are shuffled, cut into windows of ``window`` batches, sorted by length inside each
    window and cut into batches; the batches are then shuffled. A batch's padding after its
    longest sequence is cut before the forward pass, so similar lengths mean little padding.
    """
    order = rng.permutation(len(lengths))
    span = batch_size * window
    for start in range(0, len(order), span):
        part = order[start : start + span]
        order[start : start + span] = part[np.argsort(lengths[part], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return np.concatenate([batches[i] for i in rng.permutation(len(batches))]) if batches else order


def sequence_train_data(train_data, model):
    """A training loader over ``train_data``'s whole sequences, shuffled and batched like it.

    ``model`` names the fields; a masked model (it has ``MASK_ITEM_SEQ``) gets each row's target
    appended to its sequence. The loader's dataset keeps every attribute of the original but
    ``inter_feat``, so popularity must be counted on the original (the prefixes' targets).
    """
    dataset = train_data._dataset
    feat = dataset.inter_feat
    seq_field, len_field, item_field = model.ITEM_SEQ, model.ITEM_SEQ_LEN, model.ITEM_ID
    keep = whole_sequence_rows(
        feat[dataset.uid_field].numpy(),
        feat[seq_field].numpy(),
        feat[len_field].numpy(),
        feat[item_field].numpy(),
        int(dataset.config["MAX_ITEM_LIST_LENGTH"]),
    )
    rows = feat[torch.as_tensor(keep)]
    if hasattr(model, "MASK_ITEM_SEQ"):
        rows[seq_field], rows[len_field] = append_target(rows[seq_field], rows[len_field], rows[item_field])
    config = dataset.config
    window = int(TrainingSettings.from_config(config).bucket_batches)
    if window <= 0:
        return type(train_data)(config, dataset.copy(rows), train_data._sampler, shuffle=train_data.shuffle)
    return LengthBucketedLoader(
        config, dataset.copy(rows), train_data._sampler, window=window, len_field=len_field
    )


class LengthBucketedLoader(TrainDataLoader):
    """RecBole's training loader that puts its rows in :func:`length_bucketed_order` before each pass.

    The order is drawn from ``(seed, pass)``: every process of a multi-process run draws the same.
    """

    def __init__(self, config, dataset, sampler, window: int, len_field: str):
        super().__init__(config, dataset, sampler, shuffle=False)  # the order is ours
        self.window, self.len_field, self.passes = window, len_field, 0
        self._rows = dataset.inter_feat

    def __iter__(self):
        rng = np.random.default_rng([int(self.config["seed"]), self.passes])
        self.passes += 1
        batch = self.step * max(1, int(self.config["world_size"] or 1))  # every process's share of a step
        order = length_bucketed_order(self._rows[self.len_field].numpy(), batch, self.window, rng)
        self._dataset.inter_feat = self._rows[torch.as_tensor(order)]
        return super().__iter__()
