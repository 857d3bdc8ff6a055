"""Collaborative alignment loss between adapted LLM item vectors and a pretrained ID table."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def alignment_loss(
    adapted: torch.Tensor, target: torch.Tensor, temperature: float, similarity: str = "cosine"
) -> torch.Tensor:
    """Symmetric in-batch InfoNCE: item i's adapted vector should pick item i's target vector.

    ``similarity='cosine'`` normalises both sides; ``'dot'`` uses raw dot products, as the
    authors' code does (there ``temperature=2`` means something else entirely).
    """
    if similarity == "cosine":
        adapted, target = F.normalize(adapted, dim=-1), F.normalize(target, dim=-1)
    logits = adapted @ target.T / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
