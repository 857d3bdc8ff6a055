"""Builds the adapted LLM item embedding that the LLMEmb backbones put in place of their ID table."""

from __future__ import annotations

from ..adapter import adapter_from_config
from ..config import config_get
from ..item_table import build_reduced_table, condition_table
from ..llm_item_embedding import LLMItemEmbedding


def table_dim(config, out_dim: int) -> int:
    """PCA size of the LLM table: ``llm_pca_dim``, or ``out_dim`` when the adapter is off."""
    return int(config_get(config, "llm_pca_dim", 128)) if config_get(config, "use_adapter", True) else out_dim


def build_llm_item_embedding(config, dataset, out_dim: int, n_extra_tokens: int = 0) -> LLMItemEmbedding:
    """``adapter(PCA(LLM table))`` rows in the dataset's internal item-id order.

    Without the adapter (``use_adapter: False``) the table is PCA'd straight to ``out_dim``.
    ``llm_table_norm`` conditions the PCA'd table first; ``item_id_residual`` adds a trainable
    per-item vector (the "LLMEmb + ID" hybrid, not the method); ``item_scale`` a trainable per-item
    norm (one scalar per item, also not the method). Losses other than CE score only the looked-up
    items, so there a training step adapts only those rows (``row_lookup``).
    """
    id2token = list(dataset.field2id_token[config["ITEM_ID_FIELD"]])
    use_adapter = bool(config_get(config, "use_adapter", True))
    table = build_reduced_table(
        config,
        id2token[1:],
        table_dim(config, out_dim),
        show_progress=bool(config_get(config, "show_progress", True)),
    ).to_internal_ids(id2token)
    table = condition_table(table, config_get(config, "llm_table_norm", "none"))
    adapter = adapter_from_config(config, table.shape[1], out_dim) if use_adapter else None
    return LLMItemEmbedding(
        table,
        adapter,
        out_dim,
        freeze_table=bool(config_get(config, "freeze_llm_table", True)),
        n_extra_tokens=n_extra_tokens,
        init_std=float(config_get(config, "initializer_range", 0.02)),
        id_residual=bool(config_get(config, "item_id_residual", False)),
        item_scale=bool(config_get(config, "item_scale", False)),
        row_lookup=config_get(config, "loss_type", "CE") != "CE",
    )
