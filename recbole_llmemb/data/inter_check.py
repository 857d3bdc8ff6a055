"""The ``.inter`` file checked line by line before RecBole loads it.

RecBole reads it with pandas, which is silent where it should not be: a row missing its
timestamp gets the mean timestamp, a row with an extra field is kept, and a text in a float
column or a byte that is not UTF-8 stops the run with pandas' message and no file or line.
"""

from __future__ import annotations

import os

from ..config import config_get
from .atomic_files import AtomicFile

# Files already checked in this process, by (path, size, modification time, what was checked):
# a run loads its dataset once per model, and yelp's 316k lines cost ~0.3 s to check.
_checked: set[tuple] = set()


def _loaded_columns(config, names: list[str]) -> set[str]:
    """The ``.inter`` columns RecBole loads (``load_col`` / ``unload_col``), and the time column."""
    load_col, unload_col = config_get(config, "load_col"), config_get(config, "unload_col")
    if load_col is None:
        loaded = set(names)
    else:
        loaded = set(load_col.get("inter", []))
    if unload_col:
        loaded -= set(unload_col.get("inter", []))
    # The time column is loaded whenever the file has one (data/columns.py adds it to load_col).
    return loaded | {config_get(config, "TIME_FIELD", "")}


def check_inter_file(path: str, config) -> None:
    """Raise a one-line ValueError naming ``path`` and the line of the first row RecBole would misread.

    Checked: the header's ``name:type`` columns; each row's column count; the user, item and time
    values present; the loaded float columns numbers. Blank lines are skipped, as RecBole does.
    """
    separator = config_get(config, "field_separator", "\t")
    encoding = config_get(config, "encoding", "utf-8")
    fields = tuple(config_get(config, key, "") for key in ("USER_ID_FIELD", "ITEM_ID_FIELD", "TIME_FIELD"))
    stat = os.stat(path)
    memo = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, separator, encoding, fields)
    memo += (repr(config_get(config, "load_col")), repr(config_get(config, "unload_col")))
    if memo in _checked:
        return
    inter = AtomicFile(path, separator, encoding, typed=True)
    names, types = inter.header.names, inter.header.types
    loaded = _loaded_columns(config, names)
    time = fields[2]
    required = [(i, name) for i, name in enumerate(names) if name in fields]
    floats = [(i, name) for i, name in enumerate(names) if types[i] == "float" and name in loaded]
    float_seqs = [(i, name) for i, name in enumerate(names) if types[i] == "float_seq" and name in loaded]
    for number, values in inter.rows(name_missing=True):
        for i, name in required:
            if not values[i].strip():
                raise ValueError(f"{path}, line {number}: no {name}; fill it in or remove the line")
        for i, name in floats:
            _number(path, number, name, values[i], required=name == time)
        for i, name in float_seqs:
            for value in values[i].split():
                _number(path, number, name, value, required=True)
    _checked.add(memo)


def _number(path: str, line: int, name: str, value: str, required: bool) -> None:
    try:
        parsed = float(value)
    except ValueError:
        if not value.strip() and not required:
            return  # RecBole fills an empty float with the column's mean, as documented
        raise ValueError(f"{path}, line {line}: {name} is {value!r}, not a number; fix the line") from None
    if required and parsed != parsed:
        raise ValueError(f"{path}, line {line}: {name} is {value!r}, not a number; fix the line")
