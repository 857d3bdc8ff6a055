"""The DDP wrapper of a model that every process of a multi-process run trains, on CPUs as well as GPUs."""

from __future__ import annotations

import warnings

import torch
from torch.nn.parallel import DistributedDataParallel

from ..distributed import local_rank


def ddp_model(model: torch.nn.Module) -> DistributedDataParallel:
    """``model`` under DDP with two changes from RecBole 1.2.1's wrapper: ``device_ids`` only on a GPU
    (DDP refuses them for a CPU module) and no buffer broadcast at every step (an LLMEmb model's frozen
    item table: every rank loads the same one)."""
    device = next(model.parameters()).device
    with warnings.catch_warnings():  # its successor still syncs buffers at init; this does not
        warnings.simplefilter("ignore", FutureWarning)
        return DistributedDataParallel(
            model,
            device_ids=[local_rank()] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
