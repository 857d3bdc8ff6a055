"""Item-embedding variants that are not the method, kept for the comparisons in RESULTS.md."""

from __future__ import annotations

import torch
from torch import nn

from .llm_item_embedding import LLMItemEmbedding


def residual_from_table(rows: torch.Tensor, out_dim: int, scale: float) -> torch.Tensor:
    """``[len(rows), out_dim]``: the first ``out_dim`` components of the (standardised PCA) table
    rows times ``scale``, zero-padded when the table is narrower; zero for the padding row 0 too.

    LLM-ESR initialises its ID embeddings from the PCA'd LLM table (random instead: -5.3% NDCG@10).
    """
    residual = torch.zeros(rows.shape[0], out_dim)
    width = min(out_dim, rows.shape[1])
    residual[:, :width] = rows[:, :width].float() * scale
    return residual


class HybridLLMItemEmbedding(LLMItemEmbedding):
    """ "LLMEmb + ID" (``item_id_residual: True``): ``adapter(table) + r_i`` with a trainable per-item
    vector ``r_i``. ``residual_init='zero'``: training starts from plain LLMEmb and the residual learns
    only what the table cannot express; an item added after training gets no residual. ``'table'``:
    ``r_i`` starts as :func:`residual_from_table` of the item's row (``init_std`` the scale), and an
    item added after training gets that start from its text."""

    def __init__(
        self,
        table: torch.Tensor,
        adapter: nn.Module | None,
        out_dim: int,
        residual_init: str,
        **kwargs,
    ):
        super().__init__(table, adapter, out_dim, **kwargs)
        if residual_init == "table":
            start = residual_from_table(self.table.detach(), out_dim, kwargs.get("init_std", 0.02))
            start[0] = 0.0
        else:
            start = torch.zeros(self.table.shape[0], out_dim)
        self.id_residual = nn.Parameter(start)

    def _adapt(self, index: slice | torch.Tensor) -> torch.Tensor:
        return super()._adapt(index) + self.id_residual[index]

    def extra_repr(self) -> str:
        return super().extra_repr() + ", id_residual"
