"""Yelp Open Dataset: ``yelp_academic_dataset_review.json`` + ``yelp_academic_dataset_business.json``."""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterator
from datetime import datetime, timezone

from .rawfiles import (
    Interaction,
    ItemRow,
    LineReport,
    RawFormat,
    float_field,
    iter_lines,
    iter_wanted_records,
    parse_object,
    text_field,
)
from .text import clean_number, clean_text, join_texts

_BUSINESS_ID = re.compile(r'"business_id"\s*:\s*"([^"\\]*)"')

ITEM_COLUMNS = {
    "name": "token_seq",
    "city": "token_seq",
    "state": "token_seq",
    "categories": "token_seq",
    "stars": "float",
    "attributes": "token_seq",
}


def files(category: str | None) -> tuple[str, str]:
    return "yelp_academic_dataset_review.json", "yelp_academic_dataset_business.json"


def unix_time(date: object) -> int:
    """Seconds since 1970 (UTC) of Yelp's ``"2016-03-09 16:52:33"``; ``ValueError`` if not a date."""
    if not isinstance(date, str):
        raise ValueError("missing field 'date'")
    try:
        moment = datetime.fromisoformat(date.strip())
    except ValueError:
        raise ValueError(f"field 'date' is not a date: {date[:30]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def read_reviews(path: str, encoding: str, report: LineReport) -> Iterator[Interaction]:
    """``(user_id, business_id, date, stars)`` per JSON line; bad lines go to ``report``."""
    for line_no, line in iter_lines(path, encoding, report):
        try:
            record = parse_object(line)
            yield (
                text_field(record, "user_id"),
                text_field(record, "business_id"),
                unix_time(record.get("date")),
                float_field(record, "stars"),
            )
        except ValueError as exc:
            report.bad(line_no, str(exc))


def _attribute_value(raw: object) -> object:
    # Values are strings of Python literals: "True", "u'free'", "{'garage': False, 'lot': True}".
    if isinstance(raw, str):
        try:
            return ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            return raw
    return raw


def attributes_text(attributes: object, max_chars: int) -> str:
    """``{"WiFi": "u'free'", "TakeOut": "True", "Parking": "{'lot': True}"}`` as
    "WiFi: free, TakeOut, Parking: lot"; false, none and empty values are left out."""
    if not isinstance(attributes, dict):
        return ""
    parts = []
    for name, raw in attributes.items():
        value = _attribute_value(raw)
        if isinstance(value, dict):
            value = "/".join(str(key) for key, flag in value.items() if flag is True)
        if value is True:
            parts.append(clean_text(name, 0))
        elif value not in (None, False, "") and str(value).strip().lower() != "none":
            parts.append(f"{clean_text(name, 0)}: {clean_text(value, 0)}")
    return join_texts(parts, max_chars)


def read_businesses(
    path: str, encoding: str, report: LineReport, wanted: Container[str], max_chars: int
) -> Iterator[ItemRow]:
    """Cleaned text of each wanted business; ``categories`` is Yelp's comma-separated string."""
    for business, record in iter_wanted_records(path, encoding, report, wanted, _BUSINESS_ID, "business_id"):
        yield (
            business,
            {
                "name": clean_text(record.get("name"), max_chars),
                "city": clean_text(record.get("city"), max_chars),
                "state": clean_text(record.get("state"), max_chars),
                "categories": clean_text(record.get("categories"), max_chars),
                "stars": clean_number(record.get("stars")),
                "attributes": attributes_text(record.get("attributes"), max_chars),
            },
        )


FORMAT = RawFormat(
    name="yelp",
    publisher="Yelp Open Dataset (JSON files from yelp_dataset.tar)",
    url="https://www.yelp.com/dataset",
    encoding="utf-8",
    item_columns=ITEM_COLUMNS,
    files=files,
    read_interactions=read_reviews,
    read_items=read_businesses,
)
