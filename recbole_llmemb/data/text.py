"""Item text cleaning: a raw attribute value becomes one prompt-safe line of text."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable

# Only things that look like tags (``<br>``, ``</span class=x>``), so "a < b > c" survives.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# Control characters other than whitespace (which ``str.split`` folds anyway).
_WHITESPACE = re.compile(r"\s").search  # ids are called per line: a regex beats a loop
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# A number at the start of a value, after at most a short currency mark ("$", "US$", "€").
# Anchored, because some Amazon 2018 prices are scraped page fragments with digits inside.
_LEADING_NUMBER = re.compile(r"^[^\d\s]{0,3}\s*(\d[\d,]*(?:\.\d+)?)")


def clean_text(value: object, max_chars: int = 100) -> str:
    """One line of text: HTML entities decoded, tags dropped, whitespace folded, ``;`` -> ``,``.

    Lists are joined with ", ". The result is cut to ``max_chars`` characters (0: no cut).
    """
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        parts = (clean_text(part, 0) for part in value)
        text = ", ".join(part for part in parts if part)
    else:
        text = str(value)
        # Amazon metadata is often escaped twice ("&amp;amp;"): decode until stable, bounded.
        for _ in range(3):
            decoded = html.unescape(text)
            if decoded == text:
                break
            text = decoded
        text = _TAG.sub(" ", text)
        text = _CONTROL.sub(" ", text)
        # Tabs and newlines would break the tab-separated .item file; fold all whitespace.
        text = " ".join(text.split())
        # ';' separates attributes in the prompt, so it must not appear inside a value.
        text = text.replace(";", ",")
    if max_chars and len(text) > max_chars:
        text = text[:max_chars].rstrip()
    return text


def join_texts(values: Iterable[object], max_chars: int = 100, separator: str = ", ") -> str:
    """Clean each value, drop empty ones, join them, and cut the whole to ``max_chars``."""
    text = separator.join(part for part in (clean_text(v, 0) for v in values) if part)
    return clean_text(text, max_chars)


def clean_number(value: object) -> str:
    """A float's text for a ``float`` column, or "" when ``value`` holds no usable number.

    Accepts numbers and strings that start with one, such as "$1,299.99" or "$5.99 - $24.99"
    (the first number).
    """
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = _LEADING_NUMBER.match(clean_text(value, 0))
        if not match:
            return ""
        number = float(match.group(1).replace(",", ""))
    if math.isnan(number) or math.isinf(number):
        return ""
    return repr(number)


def clean_token(value: object) -> str | None:
    """A user or item id as a RecBole token, or None when it is unusable (empty, has whitespace)."""
    if isinstance(value, str):
        token = value.strip()
    elif value is None or isinstance(value, bool | dict | list):
        return None
    else:
        token = str(value).strip()
    if not token or _WHITESPACE(token):
        return None
    return token
