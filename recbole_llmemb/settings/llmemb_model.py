"""The LLMEmb model around its item embedding: its backbone's dropout and the ID view variant."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import PROBABILITY, boolean, one_of, optional
from .declaration import Effect, SettingsGroup, setting

ID_VIEW_INITS = ("table", "random")


@dataclass
class LLMEmbModelSettings(SettingsGroup):
    """``llmemb_dropout_prob`` (it acts through the backbone's dropout keys, which ``LLMEmbConfig``
    sets from it and which are in the key) and ``llmemb_id_view*``."""

    llmemb_only = True

    dropout_prob: float | None = setting(
        optional(PROBABILITY), key="llmemb_dropout_prob", effect=Effect.INDIRECT
    )
    id_view: bool = setting(boolean, key="llmemb_id_view")
    id_view_init: str = setting(one_of(*ID_VIEW_INITS), key="llmemb_id_view_init")
