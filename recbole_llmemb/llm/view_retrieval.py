"""SCFT's check: does one view of an item find the item's other view among many items?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import SCFTSettings
from .prompts import PromptTemplate
from .scft_loss import embed_texts
from .views import Attributes, sample_view


@torch.no_grad()
def view_retrieval(
    model, tokenizer, attributes: Sequence[Attributes], template: PromptTemplate, settings: SCFTSettings
) -> dict[str, float]:
    """How well one view finds its item's other view among ``eval_items`` items.

    Returns top-1 accuracy (view 1 -> view 2), and alignment (mean squared distance of the
    normalised positive pairs, lower is better) and uniformity (log mean exp(-2 d^2) over all
    pairs, lower is more spread) of Wang & Isola (2020).
    """
    n = min(settings.eval_items, len(attributes))
    index = np.random.default_rng([settings.seed, 3]).permutation(len(attributes))[:n]
    rng = np.random.default_rng([settings.seed, 4])
    first = [template.render(sample_view(attributes[i], settings.drop_ratio, rng)) for i in index]
    second = [template.render(sample_view(attributes[i], settings.drop_ratio, rng)) for i in index]
    was_training = model.training
    model.eval()
    e1 = torch.cat(
        [
            embed_texts(model, tokenizer, first[i : i + 32], settings.max_length, settings.pooling)
            for i in range(0, n, 32)
        ]
    )
    e2 = torch.cat(
        [
            embed_texts(model, tokenizer, second[i : i + 32], settings.max_length, settings.pooling)
            for i in range(0, n, 32)
        ]
    )
    model.train(was_training)
    e1, e2 = F.normalize(e1.float(), dim=-1), F.normalize(e2.float(), dim=-1)
    accuracy = float((e1 @ e2.T).argmax(dim=1).eq(torch.arange(n, device=e1.device)).float().mean())
    alignment = float((e1 - e2).pow(2).sum(dim=1).mean())
    uniformity = float(torch.pdist(e1).pow(2).mul(-2).exp().mean().log())
    return {"view_top1": accuracy, "alignment": alignment, "uniformity": uniformity, "items": n}
