"""RAT, the recommendation adaptation training: the alignment loss and the adapter's optimiser."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import POSITIVE, integer, number, one_of, optional, text
from .declaration import Effect, SettingsGroup, setting

SIMILARITIES = ("cosine", "dot")


@dataclass
class RATSettings(SettingsGroup):
    """``align_*``, ``adapter_learning_rate`` (~: ``learning_rate``) and the alignment target
    ``pretrained_srs_file`` (its contents' key is in the LLMEmb model's key, not its path)."""

    llmemb_only = True

    align_weight: float = setting(number(0), key="align_weight")
    align_temperature: float = setting(POSITIVE, key="align_temperature")
    align_similarity: str = setting(one_of(*SIMILARITIES), key="align_similarity")
    align_max_items: int = setting(integer(0), key="align_max_items")
    adapter_learning_rate: float | None = setting(optional(POSITIVE), key="adapter_learning_rate")
    pretrained_srs_file: str | None = setting(
        optional(text), key="pretrained_srs_file", effect=Effect.INDIRECT
    )
