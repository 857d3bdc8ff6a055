"""Keeping the LLM stages off the global RNG that the recommender's initial weights are drawn from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def isolated_rng() -> Iterator[None]:
    """Torch's and numpy's global RNG states as they were before the block, whatever it draws or seeds.

    SCFT seeds its own RNG, and loading a model (peft's LoRA init included) draws from the global
    one: without this, a model built after a cold table stage would start from other weights than
    one built after a warm (cached) one.
    """
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
