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


POOLERS = {"mean": mean_pool, "last": last_token_pool}  # llm_pooling's choices


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """One vector per row of ``hidden``: ``pooling`` is ``mean`` or ``last`` (``llm_pooling``)."""
    return POOLERS[pooling](hidden, attention_mask)
