"""The LLMEmb item embedding: the conditioned table, the adapter, and the variants' extras."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import PROBABILITY, boolean, integer, list_of, one_of, optional
from .declaration import SettingsGroup, setting

TABLE_NORMS = ("none", "center", "standardize")
ADAPTER_ACTIVATIONS = ("none", "relu", "gelu", "tanh")
ADAPTER_NORMS = ("none", "layernorm")
ADAPTER_DTYPE_NAMES = ("float32", "bfloat16")
RESIDUAL_INITS = ("zero", "table")


@dataclass
class EmbeddingSettings(SettingsGroup):
    """``llm_table_norm``, the ``adapter_*`` layers, ``use_adapter``, ``freeze_llm_table`` and the
    "LLMEmb + ID" residual (``item_id_residual*``)."""

    llmemb_only = True

    table_norm: str = setting(one_of(*TABLE_NORMS), key="llm_table_norm")
    use_adapter: bool = setting(boolean, key="use_adapter")
    # None: the paper's [table width // 2]
    hidden_dims: list[int] | None = setting(
        optional(list_of(integer(1), "sizes >= 1")), key="adapter_hidden_dims"
    )
    activation: str = setting(one_of(*ADAPTER_ACTIVATIONS), key="adapter_activation")
    dropout: float = setting(PROBABILITY, key="adapter_dropout")
    norm: str = setting(one_of(*ADAPTER_NORMS), key="adapter_norm")
    dtype: str = setting(one_of(*ADAPTER_DTYPE_NAMES), key="adapter_dtype")
    freeze_table: bool = setting(boolean, key="freeze_llm_table")
    id_residual: bool = setting(boolean, key="item_id_residual")
    id_residual_init: str = setting(one_of(*RESIDUAL_INITS), key="item_id_residual_init")
