"""Reading public raw dumps line by line: gzip or plain, any encoding, bad lines counted."""

from __future__ import annotations

import ast
import codecs
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field

from .text import clean_token

# (user, item, unix seconds, rating or None): one interaction as a reader yields it.
Interaction = tuple[str, str, int, float | None]
ItemRow = tuple[str, dict[str, str]]

_GZIP_MAGIC = b"\x1f\x8b"
# Bytes that are not valid in the declared encoding are read as cp1252 (what most mis-encoded
# Western text is), else latin-1, which decodes any byte.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


class RawFileError(ValueError):
    """A raw file cannot be read at all (truncated archive, unknown encoding, wrong format)."""


@dataclass
class LineReport:
    """What reading one raw file met: lines, malformed lines, lines in another encoding."""

    path: str
    lines: int = 0
    malformed: int = 0
    first_malformed: tuple[int, str] | None = None  # (line number, reason)
    redecoded: int = 0
    first_redecoded: int | None = None
    notes: dict[str, int] = field(default_factory=dict)  # e.g. {"duplicate item rows": 3}

    def bad(self, line_no: int, reason: str) -> None:
        """Count a malformed line; the first one is kept as the sample to report."""
        self.malformed += 1
        if self.first_malformed is None:
            self.first_malformed = (line_no, reason)

    def note(self, what: str, count: int = 1) -> None:
        self.notes[what] = self.notes.get(what, 0) + count

    def summary(self) -> str:
        """One line: ``<file>: N lines, M malformed (first: line L, reason), ...``."""
        parts = [f"{self.lines:,} lines"]
        if self.malformed:
            line_no, reason = self.first_malformed or (0, "")
            parts.append(f"{self.malformed:,} malformed, skipped (first: line {line_no}, {reason})")
        if self.redecoded:
            parts.append(
                f"{self.redecoded:,} not in the declared encoding, read as cp1252/latin-1"
                f" (first: line {self.first_redecoded})"
            )
        parts += [f"{count:,} {what}" for what, count in self.notes.items()]
        return f"{os.path.basename(self.path)}: " + ", ".join(parts)


class ItemRowFilter:
    """Which item rows a reader keeps: wanted ids only, the first row of each (repeats noted)."""

    def __init__(self, wanted: Container[str], report: LineReport) -> None:
        self.wanted = wanted
        self.report = report
        self.seen: set[str] = set()

    def wants(self, item_id: str) -> bool:
        if item_id not in self.wanted:
            return False
        if item_id in self.seen:
            self.report.note("repeated item rows, first kept")
            return False
        return True

    def taken(self, item_id: str) -> None:
        self.seen.add(item_id)


def iter_wanted_records(
    path: str,
    encoding: str,
    report: LineReport,
    wanted: Container[str],
    id_pattern: re.Pattern,
    id_key: str,
    python_literal: bool = False,
) -> Iterator[tuple[str, dict]]:
    """``(id, record)`` of the first line of each wanted item of an item-metadata file.

    ``id_pattern`` finds the id without parsing the line, so lines of unwanted items (those
    the k-core removed) cost almost nothing; bad lines are counted in ``report``.
    """
    rows = ItemRowFilter(wanted, report)
    for line_no, line in iter_lines(path, encoding, report):
        match = id_pattern.search(line)
        if match and not rows.wants(match.group(1)):
            continue
        try:
            record = parse_object(line, python_literal=python_literal)
            item_id = text_field(record, id_key)
        except ValueError as exc:
            report.bad(line_no, str(exc))
            continue
        if not match and not rows.wants(item_id):
            continue
        rows.taken(item_id)
        yield item_id, record


def check_encoding(encoding: str, option: str = "convert_encoding") -> str:
    """The codec's canonical name; a one-line error naming ``option`` if Python does not know it."""
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError) as exc:
        raise RawFileError(
            f"{option}: unknown encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1"
        ) from exc


def _open_binary(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def iter_lines(path: str, encoding: str, report: LineReport) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line, streamed; gzip is detected by its magic bytes.

    A UTF-8 or UTF-16 byte-order mark overrides ``encoding``. Lines that do not decode in the
    encoding are read with a fallback and counted in ``report.redecoded``. A truncated or
    corrupt archive raises a one-line ``RawFileError``.
    """
    encoding = check_encoding(encoding)
    line_no = 0
    try:
        with _open_binary(path) as stream:
            head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                # UTF-16 lines cannot be split on b"\n": decode the stream as a whole.
                text_stream = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
                for line_no, line in enumerate(text_stream, start=1):
                    report.lines = line_no
                    if line.strip():
                        yield line_no, line
                return
            for line_no, raw in enumerate(stream, start=1):
                report.lines = line_no
                if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    line = raw.decode(encoding)
                except UnicodeDecodeError:
                    line = _decode_fallback(raw)
                    report.redecoded += 1
                    if report.first_redecoded is None:
                        report.first_redecoded = line_no
                if line.strip():
                    yield line_no, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise RawFileError(
            f"{path}: truncated or corrupt after line {line_no} ({exc}); download the file again"
        ) from exc


def _decode_fallback(raw: bytes) -> str:
    for fallback in _FALLBACK_ENCODINGS:
        try:
            return raw.decode(fallback)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1", errors="replace")  # unreachable: latin-1 decodes every byte


def find_raw_file(raw_dir: str, name: str) -> str | None:
    """Path of ``name`` in ``raw_dir``, also accepting it gunzipped (or gzipped); None if absent."""
    stem = name[:-3] if name.endswith(".gz") else name
    for candidate in (name, stem, stem + ".gz"):
        path = os.path.join(raw_dir, candidate)
        if os.path.isfile(path):
            return path
    return None


@dataclass(frozen=True)
class RawFormat:
    """How one public dump is laid out and read.

    ``files(category)`` gives the (interactions file, items file) names; ``read_interactions``
    streams interactions from the first, ``read_items`` the text of the wanted items from the
    second, each cleaned value cut to ``max_chars``.
    """

    name: str
    publisher: str
    url: str
    encoding: str
    item_columns: dict[str, str]  # .item column -> RecBole type, in file order
    files: Callable[[str | None], tuple[str, str]]
    read_interactions: Callable[[str, str, LineReport], Iterator[Interaction]]
    read_items: Callable[[str, str, LineReport, Container[str], int], Iterator[ItemRow]]
    needs_category: bool = False
    has_rating: bool = True


_PARSE_ERRORS = (ValueError, SyntaxError, TypeError, RecursionError, MemoryError)


def parse_object(line: str, python_literal: bool = False) -> dict:
    """One line as a dict: JSON, or a Python literal (the Amazon 2014 metadata is written that way).

    The declared form is tried first, the other second; ``ValueError`` says why neither worked.
    Python literals go through ``ast.literal_eval``, which evaluates no code.
    """
    parsers = (_python_literal, json.loads) if python_literal else (json.loads, _python_literal)
    for parse in parsers:
        try:
            value = parse(line)
        except _PARSE_ERRORS:
            continue
        if isinstance(value, dict):
            return value
        raise ValueError(f"a {type(value).__name__}, not an object")
    raise ValueError("neither JSON nor a Python literal")


def _python_literal(line: str) -> object:
    return ast.literal_eval(line.strip())


def text_field(record: dict, key: str) -> str:
    """``record[key]`` as a token (id); ``ValueError`` names the field if absent or unusable."""
    token = clean_token(record.get(key))
    if token is None:
        raise ValueError(f"missing or empty field '{key}'")
    return token


def int_field(record: dict, key: str) -> int:
    """``record[key]`` as an int (unix time); ``ValueError`` names the field if absent or not a number."""
    value = record.get(key)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"missing field '{key}'")
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"field '{key}' is not a number: {str(value)[:30]!r}") from None


def float_field(record: dict, key: str) -> float | None:
    """``record[key]`` as a float, None when absent; ``ValueError`` if present but not a number."""
    value = record.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"field '{key}' is not a number: {str(value)[:30]!r}") from None
    if number != number:  # NaN
        return None
    return number
