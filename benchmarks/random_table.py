"""A random LLM table for the timing benchmarks: what a step costs does not depend on its values."""

from __future__ import annotations

import os
import tempfile

import numpy as np


def write_random_table(dataset, config) -> str:
    """An item-table ``.npz`` of ``dataset``'s items with ``llm_pca_dim`` (or 576) random components."""
    tokens = list(dataset.field2id_token[config["ITEM_ID_FIELD"]])[1:]
    path = os.path.join(tempfile.mkdtemp(), "random-table.npz")
    vectors = np.random.default_rng(0).normal(size=(len(tokens), config["llm_pca_dim"] or 576))
    np.savez(path, tokens=np.array(tokens), vectors=vectors.astype(np.float32))
    return path
