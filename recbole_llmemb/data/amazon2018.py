"""Amazon Review Data 2018 (Ni et al.): ``<Cat>_5.json.gz`` + ``meta_<Cat>.json.gz``, JSON lines."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator

from .amazon2014 import read_reviews
from .rawfiles import (
    ItemRow,
    LineReport,
    RawFormat,
    iter_wanted_records,
)
from .text import clean_number, clean_text, join_texts

# In a JSON line an unescaped '"asin": "' can only be a key, so this finds the ASIN without
# parsing the line; lines of items the k-core removed are skipped cheaply.
_META_ASIN = re.compile(r'"asin"\s*:\s*"([^"\\]*)"')

ITEM_COLUMNS = {
    "title": "token_seq",
    "brand": "token_seq",
    "categories": "token_seq",
    "price": "float",
    "details": "token_seq",
    "feature": "token_seq",
    "description": "token_seq",
}


def files(category: str | None) -> tuple[str, str]:
    return f"{category}_5.json.gz", f"meta_{category}.json.gz"


def details_text(details: object, max_chars: int) -> str:
    """``{"Material:": "Cotton", ...}`` as "Material: Cotton, ..."; ASIN entries (ids) left out."""
    if isinstance(details, dict):
        parts = []
        for key, value in details.items():
            name = clean_text(key, 0).rstrip(": ").strip()
            text = clean_text(value, 0)
            if text and "asin" not in name.lower():
                parts.append(f"{name}: {text}" if name else text)
        return join_texts(parts, max_chars)
    return clean_text(details, max_chars)


def read_meta(
    path: str, encoding: str, report: LineReport, wanted: Container[str], max_chars: int
) -> Iterator[ItemRow]:
    """Cleaned text of each wanted item, first row per ASIN (the 2018 dump repeats some)."""
    for asin, record in iter_wanted_records(path, encoding, report, wanted, _META_ASIN, "asin"):
        category = record.get("category")
        yield (
            asin,
            {
                "title": clean_text(record.get("title"), max_chars),
                "brand": clean_text(record.get("brand"), max_chars),
                "categories": join_texts(category if isinstance(category, list) else [category], max_chars),
                "price": clean_number(record.get("price")),
                "details": details_text(record.get("details"), max_chars),
                "feature": join_texts(_as_list(record.get("feature")), max_chars),
                "description": join_texts(_as_list(record.get("description")), max_chars, separator=" "),
            },
        )


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


FORMAT = RawFormat(
    name="amazon2018",
    publisher="Amazon Review Data 2018 (Ni et al.), 5-core reviews and metadata per category",
    url="https://nijianmo.github.io/amazon/index.html",
    encoding="utf-8",
    item_columns=ITEM_COLUMNS,
    files=files,
    read_interactions=read_reviews,
    read_items=read_meta,
    needs_category=True,
)
