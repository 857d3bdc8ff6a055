"""How an item's attributes become its prompt (``prompt_*``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..option_rules import integer, mapping, optional, strings
from .declaration import SettingsGroup, setting


def _text(value) -> str | None:
    return None if isinstance(value, str) else "a text"


@dataclass
class PromptSettings(SettingsGroup):
    """``<instruction><name> is <value>; ...`` from the ``.item`` columns ``fields`` (None: every
    non-id column), shown as ``field_names``; ``list_fields`` hold list items."""

    llmemb_only = True

    instruction: str = setting(_text, key="prompt_instruction")
    fields: Sequence[str] | None = setting(optional(strings), key="prompt_fields")
    field_names: Mapping[str, str] = setting(mapping, key="prompt_field_names")
    list_fields: Sequence[str] = setting(strings, key="prompt_list_fields")
    max_value_chars: int = setting(integer(0), key="prompt_max_value_chars")
