"""A configuration's RecBole dataset and its leave-one-out split, with the files checked first."""

from __future__ import annotations

import logging

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from .dataset_files import require_atomic_files

logger = logging.getLogger(__name__)


def load_data(config):
    """``(dataset, train, valid, test)`` for ``config``, seeded; fails early if files are missing."""
    require_atomic_files(config)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return dataset, train_data, valid_data, test_data
