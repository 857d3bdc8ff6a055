"""The validation and test protocol, and the long-tail groups every evaluation reports."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import auto_or_boolean, increasing, integer, list_of, number, optional
from .declaration import Effect, SettingsGroup, setting


@dataclass
class EvaluationSettings(SettingsGroup):
    """``eval_negatives`` and ``eval_exclude_history`` (validation picks the best epoch with them, so
    they change the trained model), the report's protocols, and the ``longtail_*`` groups."""

    negatives: int = setting(integer(0), key="eval_negatives")
    exclude_history: bool | str = setting(auto_or_boolean, key="eval_exclude_history")
    report_negatives: list[int] = setting(
        list_of(integer(0), "whole numbers >= 0"), key="report_negatives", effect=Effect.REPORT
    )
    head_ratio: float = setting(number(0, 1, low_open=True), key="longtail_head_ratio", effect=Effect.REPORT)
    tail_threshold: int | None = setting(optional(integer(1)), key="longtail_threshold", effect=Effect.REPORT)
    group_bounds: list[int] = setting(increasing, key="longtail_group_bounds", effect=Effect.REPORT)
    user_length_threshold: int | None = setting(
        optional(integer(1)), key="longtail_user_length_threshold", effect=Effect.REPORT
    )
