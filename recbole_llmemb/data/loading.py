"""A configuration's RecBole dataset and its leave-one-out split, with the files checked first."""

from __future__ import annotations

import logging

import numpy as np
from recbole.data import create_dataset, data_preparation
from recbole.utils import ModelType, init_seed

from .columns import settle_columns
from .dataset_files import require_atomic_files
from .file_order_dataset import FileOrderSequentialDataset

logger = logging.getLogger(__name__)


def _require_leave_one_out(dataset, config) -> None:
    """Leave-one-out needs a user with three interactions: one to train on, one to validate, one to test."""
    counts = np.bincount(np.asarray(dataset.inter_feat[dataset.uid_field]))
    if not (counts >= 3).any():
        raise ValueError(
            f"dataset '{config['dataset']}': no user has the 3 interactions that leave-one-out needs (train,"
            f" validation, test); its {len(dataset.inter_feat)} interactions give each user at most"
            f" {counts.max(initial=0)}: add interactions or lower the filters"
        )


# Full ranking scores eval_batch_size users against every item at once: at most this many scores.
EVAL_SCORES_BUDGET = 2**27  # 512 MiB of float32 scores, whatever the catalog's size


def _cap_eval_batch(dataset, config) -> None:
    """Evaluate in chunks of users small enough for the catalog (a 1M-item catalog: 134 users)."""
    cap = max(1, EVAL_SCORES_BUDGET // dataset.item_num)
    if config["eval_batch_size"] > cap:
        logger.info(
            "eval_batch_size %d -> %d: %d items are scored for each user",
            config["eval_batch_size"],
            cap,
            dataset.item_num,
        )
        config["eval_batch_size"] = cap


def load_data(config):
    """``(dataset, train, valid, test)`` for ``config``, seeded; fails early if files are missing.

    Without a YAML, the columns come from the ``.inter`` header; without a time column each
    user's items keep their file order.
    """
    require_atomic_files(config)
    has_time = settle_columns(config)
    init_seed(config["seed"], config["reproducibility"])
    if has_time or config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
        dataset = create_dataset(config)
    else:
        dataset = FileOrderSequentialDataset(config)
    logger.info(dataset)
    _require_leave_one_out(dataset, config)
    _cap_eval_batch(dataset, config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return dataset, train_data, valid_data, test_data
