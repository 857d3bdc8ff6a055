"""Where a run writes its report and its caches."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import optional, text
from .declaration import Effect, SettingsGroup, setting


@dataclass
class OutputSettings(SettingsGroup):
    """``results_dir`` and ``llmemb_cache_dir`` (~: ``<checkpoint_dir>/llmemb``)."""

    results_dir: str = setting(text, key="results_dir", effect=Effect.RUNTIME)
    cache_dir: str | None = setting(optional(text), key="llmemb_cache_dir", effect=Effect.RUNTIME)
