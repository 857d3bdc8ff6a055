"""Raw public dump -> RecBole atomic files: filters, k-core, item text, statistics, atomic writes."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from ..artifacts.atomic_write import atomic_write
from ..settings import ConversionSettings
from . import amazon2014, amazon2018, movielens, yelp
from .errors import MissingDatasetError
from .interactions import InteractionLog
from .kcore import kcore
from .rawfiles import LineReport, RawFileError, RawFormat, check_encoding, find_raw_file
from .stats import DatasetStats, format_statistics, summarize

logger = logging.getLogger(__name__)

FORMATS: dict[str, RawFormat] = {
    fmt.name: fmt for fmt in (amazon2014.FORMAT, amazon2018.FORMAT, yelp.FORMAT, movielens.FORMAT)
}


@dataclass
class ConversionPlan:
    """What one conversion does: the ``convert_*`` settings resolved against the raw format (its
    readers, file names, encoding and columns) and the dates as unix seconds."""

    format: RawFormat
    category: str | None
    interactions_file: str
    items_file: str
    kcore: int
    drop_duplicates: bool
    min_time: int | None  # unix seconds, inclusive
    end_time: int | None  # unix seconds, exclusive
    min_rating: float | None
    max_value_chars: int
    encoding: str
    item_fields: list[str]

    @property
    def raw_files(self) -> tuple[str, str]:
        return self.interactions_file, self.items_file


def _date_bound(value: object, option: str, end: bool) -> int | None:
    """Unix seconds of a date bound: a year (2019), a date ('2019-12-31') or a date object.

    An end bound covers the whole year or day it names.
    """
    if value is None:
        return None
    year_only = False
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999:
        day, year_only = date(value, 1, 1), True
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{4}\s*", value):
        day, year_only = date(int(value), 1, 1), True
    else:
        try:
            day = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise ValueError(
                f"{option}: {value!r} is not a date; write a year (2019) or a quoted date ('2019-12-31')"
            ) from None
    if end:
        day = date(day.year + 1, 1, 1) if year_only else day + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def conversion_plan(config) -> ConversionPlan:
    """The conversion the ``convert_*`` settings of a RecBole Config (or a dict of them) ask for,
    checked against the raw format; one-line errors name the bad option."""
    settings = ConversionSettings.from_config(config)
    if settings.format is None:
        raise ValueError(f"convert_format: ~ names no format; give one of {sorted(FORMATS)}")
    fmt = FORMATS[settings.format]
    if fmt.needs_category and not settings.category:
        raise ValueError(
            f"convert_category: format {fmt.name} needs the category of the file names (e.g. Beauty)"
        )
    names = settings.files or fmt.files(settings.category)
    fields = list(settings.item_fields or fmt.item_columns)
    unknown = [name for name in fields if name not in fmt.item_columns]
    if unknown:
        raise ValueError(
            f"convert_item_fields: {unknown} not produced by format {fmt.name} (it has {list(fmt.item_columns)})"
        )
    min_rating = settings.min_rating
    return ConversionPlan(
        format=fmt,
        category=settings.category,
        interactions_file=names[0],
        items_file=names[1],
        kcore=settings.kcore,
        drop_duplicates=bool(settings.drop_duplicates),
        min_time=_date_bound(settings.min_date, "convert_min_date", end=False),
        end_time=_date_bound(settings.max_date, "convert_max_date", end=True),
        min_rating=None if min_rating is None else float(min_rating),
        max_value_chars=settings.max_value_chars,
        encoding=check_encoding(settings.encoding or fmt.encoding),
        item_fields=fields,
    )


def locate_raw_files(raw_dir: str, settings: ConversionPlan) -> tuple[dict[str, str], list[str]]:
    """``({expected name: path found}, [expected names not found])`` in ``raw_dir``."""
    found, missing = {}, []
    for name in settings.raw_files:
        path = find_raw_file(raw_dir, name)
        if path:
            found[name] = path
        else:
            missing.append(name)
    return found, missing


def missing_files_message(
    name: str, folder: str, settings: ConversionPlan, missing: list[str], raw_dir: str | None = None
) -> str:
    """One line: which raw files to get, from where, into which folder; or the atomic alternative."""
    raw_dir = raw_dir or os.path.join(folder, "raw")
    fmt = settings.format
    have = [n for n in settings.raw_files if n not in missing]
    wanted = " and ".join(settings.raw_files)
    lacking = f" ({raw_dir}/ has {', '.join(have)} but lacks {', '.join(missing)})" if have else ""
    return (
        f"dataset '{name}': no atomic files {name}.inter and {name}.item in {folder}/ and no raw files"
        f" to convert{lacking}; put {wanted} ({fmt.publisher}: {fmt.url}) in {raw_dir}/ and they are"
        f" converted once (or run: python -m recbole_llmemb.data convert {name}), or put the RecBole"
        f" atomic files {name}.inter and {name}.item in {folder}/"
    )


@dataclass
class ConversionReport:
    """What one conversion read, dropped and wrote."""

    name: str
    inter_path: str
    item_path: str
    files: list[LineReport]
    read: int = 0
    outside_dates: int = 0
    below_rating: int = 0
    duplicates: int = 0
    kcore_rounds: int = 0
    kcore_removed: int = 0
    stats: DatasetStats | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"converted '{self.name}' in {self.seconds:.1f} s -> {self.inter_path}, {self.item_path}"]
        lines += [f"  {report.summary()}" for report in self.files]
        lines.append(
            f"  interactions: {self.read:,} read, {self.outside_dates:,} outside the dates,"
            f" {self.below_rating:,} below the rating, {self.duplicates:,} repeated (user, item) dropped,"
            f" {self.kcore_removed:,} removed by the k-core ({self.kcore_rounds} rounds)"
        )
        if self.stats is not None:
            lines.append(format_statistics(self.name, self.stats))
        return "\n".join(lines)


def convert_dataset(name: str, raw_dir: str, out_dir: str, settings: ConversionPlan) -> ConversionReport:
    """Convert the raw files in ``raw_dir`` into ``<out_dir>/<name>.inter`` and ``.item``.

    ``.item`` is written first and ``.inter`` last, each to a temp file renamed when complete:
    an interrupted run leaves no partial file, and no ``.inter`` that would pass for finished.
    """
    start = time.time()
    found, missing = locate_raw_files(raw_dir, settings)
    if missing:
        raise MissingDatasetError(missing_files_message(name, out_dir, settings, missing, raw_dir))
    fmt = settings.format
    inter_raw, item_raw = (found[n] for n in settings.raw_files)
    report = ConversionReport(
        name,
        os.path.join(out_dir, f"{name}.inter"),
        os.path.join(out_dir, f"{name}.item"),
        [LineReport(inter_raw), LineReport(item_raw)],
    )

    log = _read_interactions(inter_raw, settings, report)
    sequences, report.duplicates = log.user_sequences(settings.drop_duplicates)
    before = sum(len(rows) for rows in sequences.values())
    sequences, report.kcore_rounds = kcore(sequences, settings.kcore, item_of=log.items.__getitem__)
    report.kcore_removed = before - sum(len(rows) for rows in sequences.values())
    if not sequences:
        raise ValueError(
            f"dataset '{name}': no user and item keep {settings.kcore} interactions after the filters"
            f" ({before:,} interactions before the k-core); lower convert_kcore"
        )

    user_names, item_names = list(log.user_index), list(log.item_index)
    # Items in order of first appearance in the output, which is also the .item row order.
    item_order = list(dict.fromkeys(log.items[row] for rows in sequences.values() for row in rows))
    wanted = {item_names[item] for item in item_order}
    item_rows = dict(
        fmt.read_items(item_raw, settings.encoding, report.files[1], wanted, settings.max_value_chars)
    )
    _write_item_file(report.item_path, settings, item_names, item_order, item_rows)
    _write_inter_file(report.inter_path, fmt, log, sequences, user_names, item_names)

    report.stats = summarize(
        [len(rows) for rows in sequences.values()],
        wanted,
        0 if settings.drop_duplicates else _repeated(sequences, log),
        item_rows,
        settings.item_fields,
    )
    report.seconds = time.time() - start
    return report


def _read_interactions(path: str, settings: ConversionPlan, report: ConversionReport) -> InteractionLog:
    """The raw interactions inside the date and rating filters; what was dropped goes to ``report``."""
    log = InteractionLog()
    for user, item, timestamp, rating in settings.format.read_interactions(
        path, settings.encoding, report.files[0]
    ):
        report.read += 1
        if (settings.min_time is not None and timestamp < settings.min_time) or (
            settings.end_time is not None and timestamp >= settings.end_time
        ):
            report.outside_dates += 1
        elif settings.min_rating is not None and (rating is None or rating < settings.min_rating):
            report.below_rating += 1
        else:
            log.add(user, item, timestamp, rating)
    if not len(log):
        raise RawFileError(
            f"{path}: no usable interaction ({report.files[0].summary()}; {report.outside_dates:,}"
            f" outside the dates, {report.below_rating:,} below the rating); check the file and the"
            " convert_min_date, convert_max_date and convert_min_rating settings"
        )
    return log


def _repeated(sequences: dict[int, list[int]], log: InteractionLog) -> int:
    return sum(len(rows) - len({log.items[row] for row in rows}) for rows in sequences.values())


def _write_item_file(path, settings, item_names, item_order, rows) -> None:
    columns = settings.format.item_columns
    header = ["item_id:token"] + [f"{name}:{columns[name]}" for name in settings.item_fields]
    with atomic_write(path) as handle:
        handle.write("\t".join(header) + "\n")
        for item in item_order:
            token = item_names[item]
            row = rows.get(token)
            if row is not None:
                handle.write("\t".join([token] + [row.get(name, "") for name in settings.item_fields]) + "\n")


def _write_inter_file(path, fmt, log, sequences, user_names, item_names) -> None:
    header = (
        "user_id:token\titem_id:token\t" + ("rating:float\t" if fmt.has_rating else "") + "timestamp:float"
    )
    items, times, ratings = log.items, log.times, log.ratings
    with atomic_write(path) as handle:
        handle.write(header + "\n")
        for user, rows in sequences.items():
            prefix = user_names[user] + "\t"
            lines = []
            for row in rows:
                rating = ratings[row]
                middle = ("" if math.isnan(rating) else repr(rating)) + "\t" if fmt.has_rating else ""
                lines.append(f"{prefix}{item_names[items[row]]}\t{middle}{times[row]}\n")
            handle.write("".join(lines))


def convert_from_config(config, settings: ConversionPlan | None = None) -> ConversionReport:
    """Convert ``<data_path>/raw/`` for a RecBole Config, logging the report."""
    name, folder = config["dataset"], config["data_path"]
    settings = settings or conversion_plan(config)
    report = convert_dataset(name, os.path.join(folder, "raw"), folder, settings)
    for line in report.summary().splitlines():
        logger.info(line)
    return report
