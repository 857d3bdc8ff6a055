"""How the LLM item table is made: the LLM and how it runs, SCFT on or off, pooling, PCA."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import boolean, integer, one_of, optional, text, torch_device
from .declaration import Effect, SettingsGroup, setting

LLM_DTYPE_NAMES = ("float32", "bfloat16", "float16")
POOLINGS = ("mean", "last")
POOLING = one_of(*POOLINGS)  # llm_pooling's rule: SCFT reads the setting too


@dataclass
class TableSettings(SettingsGroup):
    """The ``llm_*`` settings of the table stage, ``scft``, ``scft_dtype`` and ``llmemb_table_file``."""

    llmemb_only = True

    llm_path: str | None = setting(optional(text), key="llm_path", effect=Effect.INDIRECT)
    device: str | None = setting(optional(torch_device), key="llm_device", effect=Effect.RUNTIME)
    dtype: str = setting(one_of("auto", *LLM_DTYPE_NAMES), key="llm_dtype")
    batch_size: int = setting(integer(1), key="llm_batch_size", effect=Effect.RUNTIME)
    max_length: int = setting(integer(1), key="llm_max_length")
    checkpoint_every: int = setting(integer(1), key="llm_checkpoint_every", effect=Effect.RUNTIME)
    pooling: str = setting(POOLING, key="llm_pooling")
    pca_dim: int = setting(integer(0), key="llm_pca_dim")
    scft: bool = setting(boolean, key="scft")
    scft_dtype: str | None = setting(optional(one_of("auto", *LLM_DTYPE_NAMES)), key="scft_dtype")
    table_file: str | None = setting(optional(text), key="llmemb_table_file", effect=Effect.INDIRECT)
