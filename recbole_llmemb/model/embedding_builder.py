"""Builds the item embedding that LLMEmb backbones put in place of their ID table, from the table artifact."""

from __future__ import annotations

import torch

from ..llm.table_stage import load_table
from ..settings import EmbeddingSettings, TableSettings, TrainingSettings
from .adapter import Adapter
from .id_view import init_scale
from .llm_item_embedding import LLMItemEmbedding
from .variants import HybridLLMItemEmbedding

ADAPTER_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # adapter_dtype's choices


def table_dim(config, out_dim: int) -> int:
    """PCA size of the LLM table: ``llm_pca_dim``, or ``out_dim`` when the adapter is off."""
    if not EmbeddingSettings.from_config(config).use_adapter:
        return out_dim
    return int(TableSettings.from_config(config).pca_dim)


def condition_table(matrix: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre, or standardise per dimension, the item rows ``matrix[1:]``; the padding row stays 0.
    Returns ``(table, shift, scale)``: each item row became ``(row - shift) / scale``, which is how
    items added later are conditioned.

    PCA components have very unequal variances (the first ~15x the last), so a small adapter
    mostly sees the first few; ``standardize`` gives every kept component the same scale.
    """
    shift, scale = torch.zeros(1, matrix.shape[1]), torch.ones(1, matrix.shape[1])
    if mode == "none":
        return matrix, shift, scale
    shift = matrix[1:].mean(dim=0, keepdim=True)
    items = matrix[1:] - shift
    if mode == "standardize":
        scale = items.std(dim=0, keepdim=True).clamp(min=1e-6)
        items = items / scale
    return torch.cat([torch.zeros_like(matrix[:1]), items], dim=0), shift, scale


def build_llm_item_embedding(config, dataset, out_dim: int, n_extra_tokens: int = 0) -> LLMItemEmbedding:
    """``adapter(PCA(LLM table))`` rows in the dataset's internal item-id order.

    The table is read from the table stage's artifact (:func:`load_table`): no LLM runs here.
    Without the adapter (``use_adapter: False``) the table is PCA'd straight to ``out_dim``.
    ``llm_table_norm`` conditions the PCA'd table first; ``item_id_residual`` selects the
    "LLMEmb + ID" variant. Losses other than full CE (BPR, the sampled softmax) score only the
    looked-up items, so there a training step adapts only those rows (``row_lookup``).
    """
    id2token = list(dataset.field2id_token[config["ITEM_ID_FIELD"]])
    settings = EmbeddingSettings.from_config(config)
    table = load_table(config, id2token[1:], table_dim(config, out_dim)).to_internal_ids(id2token)
    table, shift, scale = condition_table(table, settings.table_norm)
    adapter = Adapter.from_settings(settings, table.shape[1], out_dim) if settings.use_adapter else None
    hybrid = bool(settings.id_residual)
    embedding_class = HybridLLMItemEmbedding if hybrid else LLMItemEmbedding
    extra = {"residual_init": settings.id_residual_init} if hybrid else {}
    return embedding_class(
        table,
        adapter,
        out_dim,
        freeze_table=bool(settings.freeze_table),
        n_extra_tokens=n_extra_tokens,
        init_std=init_scale(config),
        row_lookup=config["loss_type"] != "CE"
        or int(TrainingSettings.from_config(config).sampled_softmax_negatives) > 0,
        adapter_dtype=ADAPTER_DTYPES[settings.dtype],
        table_shift=shift,
        table_scale=scale,
        **extra,
    )
