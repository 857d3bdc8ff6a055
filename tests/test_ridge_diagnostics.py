"""The ridge diagnostics that benchmarks/table_diagnostics.py and rank_diagnostics.py use."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from ridge import popularity_r2  # noqa: E402


def test_popularity_r2_finds_popularity_in_rows_even_when_ids_are_sorted_by_it():
    """Items sorted by popularity (as ids by first appearance roughly are): each block of
    categories has its own popularity, so contiguous folds would test on unseen categories."""
    rng = np.random.default_rng(0)
    categories = np.repeat(np.arange(30), 40)  # ids grouped by category
    level = np.sort(rng.uniform(0, 6, 30))[::-1]  # popular categories first
    popularity = np.round(np.expm1(level[categories] + rng.normal(0, 0.1, len(categories))))
    rows = np.eye(30)[categories] + rng.normal(0, 0.01, (len(categories), 30))
    assert popularity_r2(rows, popularity) > 0.9
    noise = rng.normal(size=rows.shape)
    assert popularity_r2(noise, popularity) < 0.05
