"""Builds the item embedding that LLMEmb backbones put in place of their ID table, from the table artifact."""

from __future__ import annotations

import torch

from ..config import config_get
from ..llm.table_stage import load_table
from .adapter import Adapter
from .llm_item_embedding import LLMItemEmbedding
from .variants import HybridLLMItemEmbedding

TABLE_NORMS = ("none", "center", "standardize")
ADAPTER_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def table_dim(config, out_dim: int) -> int:
    """PCA size of the LLM table: ``llm_pca_dim``, or ``out_dim`` when the adapter is off."""
    return int(config_get(config, "llm_pca_dim", 128)) if config_get(config, "use_adapter", True) else out_dim


def condition_table(
    matrix: torch.Tensor, mode: str = "none"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre, or standardise per dimension, the item rows ``matrix[1:]``; the padding row stays 0.
    Returns ``(table, shift, scale)``: each item row became ``(row - shift) / scale``, which is how
    items added later are conditioned.

    PCA components have very unequal variances (the first ~15x the last), so a small adapter
    mostly sees the first few; ``standardize`` gives every kept component the same scale.
    """
    if mode not in TABLE_NORMS:
        raise ValueError(f"llm_table_norm: '{mode}' is not one of {TABLE_NORMS}")
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
    use_adapter = bool(config_get(config, "use_adapter", True))
    table = load_table(config, id2token[1:], table_dim(config, out_dim)).to_internal_ids(id2token)
    table, shift, scale = condition_table(table, config_get(config, "llm_table_norm", "none"))
    adapter = Adapter.from_config(config, table.shape[1], out_dim) if use_adapter else None
    hybrid = bool(config_get(config, "item_id_residual", False))
    embedding_class = HybridLLMItemEmbedding if hybrid else LLMItemEmbedding
    extra = {"residual_init": config_get(config, "item_id_residual_init", "zero")} if hybrid else {}
    return embedding_class(
        table,
        adapter,
        out_dim,
        freeze_table=bool(config_get(config, "freeze_llm_table", True)),
        n_extra_tokens=n_extra_tokens,
        init_std=float(config_get(config, "initializer_range", 0.02)),
        row_lookup=config_get(config, "loss_type", "CE") != "CE"
        or int(config_get(config, "sampled_softmax_negatives", 0)) > 0,
        adapter_dtype=ADAPTER_DTYPES[config_get(config, "adapter_dtype", "float32")],
        table_shift=shift,
        table_scale=scale,
        **extra,
    )
