"""The plugin's own settings, typed: one dataclass per stage, read from RecBole's Config.

Each setting is declared once (:func:`~.declaration.setting`): its config key, its rule, and its
:class:`~.declaration.Effect`, which decides whether cache keys hold it. Defaults live only in
the YAML files of ``properties/``. RecBole's own options stay RecBole's (``option_rules`` checks
them); ``recbole_options`` lists the few of them that no cache key holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import get_type_hints

from .cold_items import ColdItemSettings
from .conversion import ConversionSettings
from .declaration import Declared, Effect, SettingsGroup, overall_defaults
from .embedding import EmbeddingSettings
from .evaluation import EvaluationSettings
from .llmemb_model import LLMEmbModelSettings
from .output import OutputSettings
from .prompts import PromptSettings
from .rat import RATSettings
from .scft import SCFTSettings
from .table import TableSettings
from .training import TrainingSettings


@dataclass
class LLMEmbSettings:
    """Every plugin setting, by group."""

    training: TrainingSettings
    evaluation: EvaluationSettings
    cold_items: ColdItemSettings
    conversion: ConversionSettings
    output: OutputSettings
    prompts: PromptSettings
    table: TableSettings
    scft: SCFTSettings
    embedding: EmbeddingSettings
    model: LLMEmbModelSettings
    rat: RATSettings

    @classmethod
    def from_config(cls, config: Mapping) -> LLMEmbSettings:
        """Every group of ``config``, each setting checked by its rule (a one-line ValueError)."""
        return cls(**{name: group.from_config(config) for name, group in GROUPS.items()})


# The groups by their name in LLMEmbSettings.
GROUPS: dict[str, type[SettingsGroup]] = get_type_hints(LLMEmbSettings)


@lru_cache(maxsize=1)
def declared_settings() -> Mapping[str, Declared]:
    """Every plugin setting by its config key (read-only)."""
    declared: dict[str, Declared] = {}
    for group in GROUPS.values():
        for one in group.declared():
            if one.key in declared:
                raise TypeError(
                    f"{one.key}: declared by {declared[one.key].group.__name__} and {group.__name__}"
                )
            declared[one.key] = one
    return MappingProxyType(declared)


__all__ = [
    "GROUPS",
    "ColdItemSettings",
    "ConversionSettings",
    "Declared",
    "Effect",
    "EmbeddingSettings",
    "EvaluationSettings",
    "LLMEmbModelSettings",
    "LLMEmbSettings",
    "OutputSettings",
    "PromptSettings",
    "RATSettings",
    "SCFTSettings",
    "SettingsGroup",
    "TableSettings",
    "TrainingSettings",
    "declared_settings",
    "overall_defaults",
]
