"""MovieLens-1M (GroupLens): ``ratings.dat`` + ``movies.dat``, ``::``-separated, latin-1."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator

from .rawfiles import Interaction, ItemRow, ItemRowFilter, LineReport, RawFormat, iter_lines
from .text import clean_text, clean_token

_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")

ITEM_COLUMNS = {"movie_title": "token_seq", "release_year": "token", "genre": "token_seq"}


def files(category: str | None) -> tuple[str, str]:
    return "ratings.dat", "movies.dat"


def read_ratings(path: str, encoding: str, report: LineReport) -> Iterator[Interaction]:
    """``(UserID, MovieID, Timestamp, Rating)`` per ``UserID::MovieID::Rating::Timestamp`` line."""
    for line_no, line in iter_lines(path, encoding, report):
        parts = line.rstrip("\r\n").split("::")
        if len(parts) != 4:
            report.bad(line_no, f"{len(parts)} '::'-separated fields, expected 4")
            continue
        user, item = clean_token(parts[0]), clean_token(parts[1])
        if user is None or item is None:
            report.bad(line_no, "empty UserID or MovieID")
            continue
        try:
            rating, timestamp = float(parts[2]), int(parts[3])
        except ValueError:
            report.bad(line_no, "Rating or Timestamp is not a number")
            continue
        yield user, item, timestamp, rating


def read_movies(
    path: str, encoding: str, report: LineReport, wanted: Container[str], max_chars: int
) -> Iterator[ItemRow]:
    """Title without its "(year)", the year, and the genres (``|``-separated) of wanted movies."""
    rows = ItemRowFilter(wanted, report)
    for line_no, line in iter_lines(path, encoding, report):
        parts = line.rstrip("\r\n").split("::")
        movie = clean_token(parts[0]) if len(parts) == 3 else None
        if movie is None:
            report.bad(line_no, "expected MovieID::Title::Genres")
            continue
        if not rows.wants(movie):
            continue
        rows.taken(movie)
        title = clean_text(parts[1], 0)
        match = _TITLE_YEAR.match(title)
        title, year = (match.group(1), match.group(2)) if match else (title, "")
        # Genres are single words ("Sci-Fi", "Children's"): a space-separated token_seq.
        genres = [clean_text(genre, 0).replace(" ", "-") for genre in parts[2].split("|")]
        yield (
            movie,
            {
                "movie_title": clean_text(title, max_chars),
                "release_year": year,
                "genre": clean_text(" ".join(genre for genre in genres if genre), max_chars),
            },
        )


FORMAT = RawFormat(
    name="movielens",
    publisher="MovieLens 1M (GroupLens), ml-1m.zip",
    url="https://grouplens.org/datasets/movielens/1m/",
    encoding="latin-1",
    item_columns=ITEM_COLUMNS,
    files=files,
    read_interactions=read_ratings,
    read_items=read_movies,
)
