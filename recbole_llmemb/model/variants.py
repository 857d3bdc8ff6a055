"""Item-embedding variants that are not the method, kept for the comparisons in RESULTS.md."""

from __future__ import annotations

import torch
from torch import nn

from .llm_item_embedding import LLMItemEmbedding


class HybridLLMItemEmbedding(LLMItemEmbedding):
    """ "LLMEmb + ID" (``item_id_residual: True``): ``adapter(table) + r_i`` with a trainable per-item
    vector ``r_i`` that starts at zero, so training starts from plain LLMEmb and the residual learns
    only what the table cannot express. An item added after training has no residual."""

    def __init__(self, table: torch.Tensor, adapter: nn.Module | None, out_dim: int, **kwargs):
        super().__init__(table, adapter, out_dim, **kwargs)
        self.id_residual = nn.Parameter(torch.zeros(self.table.shape[0], out_dim))

    def _adapt(self, index: slice | torch.Tensor) -> torch.Tensor:
        return super()._adapt(index) + self.id_residual[index]

    def extra_repr(self) -> str:
        return super().extra_repr() + ", id_residual"
