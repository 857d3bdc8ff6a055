"""RecBole atomic files (``.inter``, ``.item``) read as text: the one parser of their header and rows.

An atomic file is ``separator``-separated text, a ``name:type`` header on its first line, one row
per line; blank lines are skipped, as RecBole does. Rows are split on ``\\n`` only (a ``\\r`` before
it is dropped): a value never ends a line early. Every error is one line naming the file and line.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..artifacts.atomic_write import atomic_write

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")


def decoding_error(path: str, data: bytes, encoding: str = "utf-8") -> ValueError | None:
    """The one-line error for the first byte of ``data`` (``path``'s bytes) that is not ``encoding``
    text, naming its line and offset in the file; None when all of it decodes."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        name = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        return ValueError(
            f"{path}, line {line}: not {name} text (byte 0x{data[error.start]:02x} at offset {error.start});"
            " save the file as UTF-8"
        )
    return None


@dataclass(frozen=True)
class Header:
    """An atomic file's first line: its columns as written (``name:type``)."""

    columns: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [column.partition(":")[0] for column in self.columns]

    @property
    def types(self) -> list[str]:
        return [column.partition(":")[2] for column in self.columns]

    def index(self, name: str) -> int | None:
        """The position of column ``name``; None when the file has no such column."""
        names = self.names
        return names.index(name) if name in names else None


class AtomicFile:
    """One atomic file: its header, read when opened, and its rows, streamed.

    ``typed``: every column must be ``name:type`` with one of RecBole's feature types (what RecBole
    needs of a file it loads). ``what``: the file in the empty-file error ("file", ".item file").
    """

    def __init__(
        self,
        path: str,
        separator: str = "\t",
        encoding: str = "utf-8",
        typed: bool = False,
        what: str = "file",
    ):
        self.path, self.separator, self.encoding = path, separator, encoding
        lines = self._lines()
        first = next(lines, (1, ""))[1]
        lines.close()
        if not first.strip():
            raise ValueError(f"{path}: empty {what}; an atomic file starts with a 'field:type' header")
        self.header = Header(tuple(first.split(separator)))
        if typed:
            self._check_types()

    def _lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` of every line, its ``\\r\\n`` or ``\\n`` dropped."""
        try:
            with open(self.path, encoding=self.encoding, newline="\n") as handle:
                for number, line in enumerate(handle, start=1):
                    yield number, line.rstrip("\n").removesuffix("\r")
        except UnicodeDecodeError:
            # The decoder's offsets count from the chunk it was reading: find the byte in the file.
            with open(self.path, "rb") as handle:
                error = decoding_error(self.path, handle.read(), self.encoding)
            raise error or ValueError(f"{self.path}: not {self.encoding} text") from None

    def _check_types(self) -> None:
        for number, (name, kind) in enumerate(
            zip(self.header.names, self.header.types, strict=True), start=1
        ):
            if not name or kind not in FEATURE_TYPES:
                raise ValueError(
                    f"{self.path}, line 1: column {number} is {self.header.columns[number - 1]!r}, not"
                    f" 'name:type' with a type of {', '.join(FEATURE_TYPES)}; fix the header or the"
                    " field_separator option"
                )

    def rows(self, name_missing: bool = False) -> Iterator[tuple[int, list[str]]]:
        """``(line number, values)`` of each row under the header; a row whose column count is not the
        header's is an error. ``name_missing``: the error names the columns a short row lacks (a row
        of ids and times loses its last ones; in a row of free text a stray separator may be the fault).
        """
        width = len(self.header.columns)
        lines = self._lines()
        next(lines, None)
        for number, line in lines:
            if not line:
                continue
            values = line.split(self.separator)
            if len(values) != width:
                missing = ""
                if name_missing and len(values) < width:
                    missing = f" ({', '.join(self.header.names[len(values) :])} missing)"
                raise ValueError(
                    f"{self.path}, line {number}: {len(values)} columns, header has {width}{missing};"
                    " fix the line or the field_separator option"
                )
            yield number, values


def write_atomic_file(
    path: str, header: Header, rows: Sequence[Sequence[str]], separator: str = "\t"
) -> None:
    """``header`` and ``rows`` as an atomic file, written by temp file + rename."""
    with atomic_write(path, "w") as handle:
        handle.write(separator.join(header.columns) + "\n")
        handle.writelines(separator.join(row) + "\n" for row in rows)
