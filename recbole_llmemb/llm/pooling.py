"""Pooling an LLM's final hidden states into one vector per prompt (``llm_pooling``)."""

from __future__ import annotations

import torch


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, L, D] over the positions where ``attention_mask`` is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden`` [B, L, D] at each row's last position where ``attention_mask`` is 1 (right padding).

    In a causal decoder only the last token has attended to the whole prompt.
    """
    last = (attention_mask.sum(dim=1) - 1).clamp(min=0).long()
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


POOLERS = {"mean": mean_pool, "last": last_token_pool}


def check_pooling(pooling: str) -> str:
    """``pooling`` if it names a pooler, else a ValueError naming ``llm_pooling``."""
    if pooling not in POOLERS:
        raise ValueError(f"llm_pooling: '{pooling}' is not one of {tuple(POOLERS)}")
    return pooling


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """One vector per row of ``hidden``: ``pooling`` is ``mean`` or ``last`` (``llm_pooling``)."""
    return POOLERS[check_pooling(pooling)](hidden, attention_mask)
