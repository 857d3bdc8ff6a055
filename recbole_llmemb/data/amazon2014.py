"""Amazon Review Data 2014 (McAuley et al.): ``reviews_<Cat>_5.json.gz`` + ``meta_<Cat>.json.gz``."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator

from .rawfiles import (
    Interaction,
    ItemRow,
    LineReport,
    RawFormat,
    float_field,
    int_field,
    iter_lines,
    iter_wanted_records,
    parse_object,
    text_field,
)
from .text import clean_number, clean_text, join_texts

# The metadata lines start with the ASIN: read it without parsing the (slow) Python literal, so
# the lines of items that the k-core removed cost almost nothing.
_META_ASIN = re.compile(r"""^\s*\{\s*['"]asin['"]\s*:\s*['"]([^'"\\]*)['"]""")

ITEM_COLUMNS = {
    "title": "token_seq",
    "brand": "token_seq",
    "categories": "token_seq",
    "price": "float",
    "sales_rank": "float",
    "description": "token_seq",
}


def files(category: str | None) -> tuple[str, str]:
    return f"reviews_{category}_5.json.gz", f"meta_{category}.json.gz"


def read_reviews(path: str, encoding: str, report: LineReport) -> Iterator[Interaction]:
    """``(reviewerID, asin, unixReviewTime, overall)`` per JSON line; bad lines go to ``report``.

    Shared by the 2018 dump, whose review lines have the same keys.
    """
    for line_no, line in iter_lines(path, encoding, report):
        try:
            record = parse_object(line)
            yield (
                text_field(record, "reviewerID"),
                text_field(record, "asin"),
                int_field(record, "unixReviewTime"),
                float_field(record, "overall"),
            )
        except ValueError as exc:
            report.bad(line_no, str(exc))


def first_category_path(categories: object) -> list:
    """The first path of ``[[path], [path], ...]`` (the item's main category chain)."""
    if isinstance(categories, list) and categories:
        first = categories[0]
        # Some copies store a single flat path.
        return first if isinstance(first, list) else categories
    return []


def sales_rank(value: object) -> str:
    """The rank from ``{'Beauty': 1234}`` (the first category's), as a float's text."""
    if isinstance(value, dict) and value:
        return clean_number(next(iter(value.values())))
    return clean_number(value)


def read_meta(
    path: str, encoding: str, report: LineReport, wanted: Container[str], max_chars: int
) -> Iterator[ItemRow]:
    """Cleaned text of each wanted item, first row per ASIN; other items' lines are skipped."""
    for asin, record in iter_wanted_records(
        path, encoding, report, wanted, _META_ASIN, "asin", python_literal=True
    ):
        yield (
            asin,
            {
                "title": clean_text(record.get("title"), max_chars),
                "brand": clean_text(record.get("brand"), max_chars),
                "categories": join_texts(first_category_path(record.get("categories")), max_chars),
                "price": clean_number(record.get("price")),
                "sales_rank": sales_rank(record.get("salesRank")),
                "description": clean_text(record.get("description"), max_chars),
            },
        )


FORMAT = RawFormat(
    name="amazon2014",
    publisher="Amazon Review Data 2014 (McAuley et al.), 5-core reviews and metadata per category",
    url="https://jmcauley.ucsd.edu/data/amazon/links.html",
    encoding="utf-8",
    item_columns=ITEM_COLUMNS,
    files=files,
    read_interactions=read_reviews,
    read_items=read_meta,
    needs_category=True,
)
