"""Two views of an item for SCFT: random subsets of its attributes in random order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..settings import SCFTSettings
from .prompts import PromptTemplate

Attributes = Sequence[tuple[str, str]]


def sample_view(attributes: Attributes, drop_ratio: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A random subset of ``attributes`` in random order: ``int(n * drop_ratio)`` dropped, one kept."""
    n = len(attributes)
    keep = max(1, n - int(n * drop_ratio))
    return [attributes[i] for i in rng.permutation(n)[:keep]]


class ViewSampler:
    """Deterministic views and batch order per epoch, seeded by (seed, epoch): a resumed run
    draws exactly the views an uninterrupted one would. ``fresh_views=False`` reuses epoch 0's."""

    def __init__(
        self,
        attributes: Sequence[Attributes],
        template: PromptTemplate,
        settings: SCFTSettings,
        processes: int = 1,
    ):
        self.attributes = list(attributes)
        self.template = template
        self.settings = settings
        self.processes = processes  # each global batch is split over them, scft_batch_size items each

    def views(self, epoch: int) -> tuple[list[str], list[str]]:
        rng = np.random.default_rng([self.settings.seed, epoch if self.settings.fresh_views else 0, 1])
        ratio = self.settings.drop_ratio
        first = [self.template.render(sample_view(a, ratio, rng)) for a in self.attributes]
        second = [self.template.render(sample_view(a, ratio, rng)) for a in self.attributes]
        return first, second

    def batches(self, epoch: int) -> list[np.ndarray]:
        """Shuffled global micro-batches of item indices (``scft_batch_size`` x processes); a last
        batch under 2 items per process is dropped."""
        order = np.random.default_rng([self.settings.seed, epoch, 2]).permutation(len(self.attributes))
        size = self.settings.batch_size * self.processes
        least = 2 * self.processes
        return [order[i : i + size] for i in range(0, len(order), size) if len(order[i : i + size]) >= least]

    def steps_per_epoch(self) -> int:
        return max(1, len(self.batches(0)) // self.settings.gradient_accumulation)
