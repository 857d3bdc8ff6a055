"""The cold-item protocol: which items are held out, and which extra models it tests."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import boolean, cold_items, integer, one_of, optional
from .declaration import Effect, SettingsGroup, setting

COLD_RULES = ("random", "last")


@dataclass
class ColdItemSettings(SettingsGroup):
    """The ``eval_cold_*`` settings. The split they choose is written as data files, whose contents
    are in every key; the extra models they ask for are report rows."""

    items: float | list | None = setting(optional(cold_items), key="eval_cold_items", effect=Effect.INDIRECT)
    rule: str = setting(one_of(*COLD_RULES), key="eval_cold_rule", effect=Effect.INDIRECT)
    seed: int = setting(optional(integer(0)), key="eval_cold_seed", fallback="seed", effect=Effect.INDIRECT)
    without_scft: bool = setting(boolean, key="eval_cold_without_scft", effect=Effect.REPORT)
    reference: bool = setting(boolean, key="eval_cold_reference", effect=Effect.REPORT)

    @property
    def requested(self) -> bool:
        """Whether the cold-item protocol is asked for."""
        return self.items not in (None, 0, 0.0, [])
