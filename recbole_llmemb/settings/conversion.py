"""Conversion of a dataset's public raw files into RecBole atomic files (``convert_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import boolean, file_pair, integer, one_of, optional, real, strings, text, year_or_date
from .declaration import Effect, SettingsGroup, setting

RAW_FORMATS = ("amazon2014", "amazon2018", "yelp", "movielens")


@dataclass
class ConversionSettings(SettingsGroup):
    """The ``convert_*`` settings as given; ``data.convert.conversion_plan`` resolves them against
    the raw format. They shape the atomic files, whose contents are in every key."""

    format: str | None = setting(optional(one_of(*RAW_FORMATS)), key="convert_format", effect=Effect.INDIRECT)
    category: str | None = setting(optional(text), key="convert_category", effect=Effect.INDIRECT)
    files: list[str] | None = setting(optional(file_pair), key="convert_files", effect=Effect.INDIRECT)
    kcore: int = setting(integer(0), key="convert_kcore", effect=Effect.INDIRECT)
    drop_duplicates: bool = setting(boolean, key="convert_drop_duplicates", effect=Effect.INDIRECT)
    min_date: object = setting(optional(year_or_date), key="convert_min_date", effect=Effect.INDIRECT)
    max_date: object = setting(optional(year_or_date), key="convert_max_date", effect=Effect.INDIRECT)
    min_rating: float | None = setting(optional(real), key="convert_min_rating", effect=Effect.INDIRECT)
    max_value_chars: int = setting(integer(0), key="convert_max_value_chars", effect=Effect.INDIRECT)
    encoding: str | None = setting(optional(text), key="convert_encoding", effect=Effect.INDIRECT)
    item_fields: list[str] | None = setting(
        optional(strings), key="convert_item_fields", effect=Effect.INDIRECT
    )
