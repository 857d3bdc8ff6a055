"""SCFT's loss: a symmetric in-batch contrastive loss between the pooled vectors of two views."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .pooling import pool


def scft_loss(
    view1: torch.Tensor, view2: torch.Tensor, temperature: float | torch.Tensor, exclude_positive: bool = True
) -> torch.Tensor:
    """Symmetric in-batch contrastive loss; cosine similarity over ``temperature``.

    Positives sit on the diagonal. With ``exclude_positive`` the denominator sums over the other
    items only (the method page's formula), otherwise over all (InfoNCE).
    """
    logits = F.normalize(view1, dim=-1) @ F.normalize(view2, dim=-1).T / temperature

    def one_side(logits: torch.Tensor) -> torch.Tensor:
        positive = logits.diagonal()
        if exclude_positive:
            eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
            logits = logits.masked_fill(eye, float("-inf"))
        return (torch.logsumexp(logits, dim=1) - positive).mean()

    return (one_side(logits) + one_side(logits.T)) / 2


def embed_texts(
    model, tokenizer, texts: Sequence[str], max_length: int, pooling: str = "mean"
) -> torch.Tensor:
    """Pooled (``pooling``) final hidden states of ``texts`` (one padded batch), with gradients."""
    device = next(model.parameters()).device
    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    ).to(device)
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return pool(
        hidden, batch["attention_mask"], pooling
    ).float()  # the loss in float32, whatever the LLM's dtype
