"""Dataset statistics: sizes, density, sequence lengths, and how many items have each text field."""

from __future__ import annotations

import os
import statistics as pystats
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from recbole.data import create_dataset
from recbole.utils import get_model

from ..config import LLMEmbConfig
from .atomic_files import AtomicFile
from .errors import MissingDatasetError


@dataclass
class DatasetStats:
    """Counts of one dataset as its atomic files hold it; coverage is over the items of ``.inter``."""

    users: int
    items: int
    interactions: int
    min_length: int
    mean_length: float
    max_length: int
    repeated_pairs: int  # interactions whose (user, item) pair came before in that user's history
    items_with_row: int  # items of .inter that have a row in .item
    coverage: dict[str, int] = field(default_factory=dict)  # .item column -> items with a value

    @property
    def density(self) -> float:
        return self.interactions / (self.users * self.items) if self.users and self.items else 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "density": self.density}


def summarize(
    lengths: Sequence[int],
    items: set[str],
    repeated_pairs: int,
    item_rows: Mapping[str, Mapping[str, str]],
    columns: Sequence[str],
) -> DatasetStats:
    """Statistics from per-user sequence lengths, the set of items and the ``.item`` rows."""
    coverage = {column: 0 for column in columns}
    with_row = 0
    for item in items:
        row = item_rows.get(item)
        if row is None:
            continue
        with_row += 1
        for column in columns:
            if str(row.get(column, "")).strip():
                coverage[column] += 1
    return DatasetStats(
        users=len(lengths),
        items=len(items),
        interactions=sum(lengths),
        min_length=min(lengths, default=0),
        mean_length=pystats.fmean(lengths) if lengths else 0.0,
        max_length=max(lengths, default=0),
        repeated_pairs=repeated_pairs,
        items_with_row=with_row,
        coverage=coverage,
    )


def format_statistics(name: str, stats: DatasetStats) -> str:
    """A few lines for the terminal and the log."""
    lines = [
        f"{name}: {stats.users:,} users, {stats.items:,} items, {stats.interactions:,} interactions,"
        f" density {100 * stats.density:.4f}%",
        f"  sequence length: min {stats.min_length}, mean {stats.mean_length:.2f}, max {stats.max_length};"
        f" repeated (user, item) interactions: {stats.repeated_pairs:,}",
        f"  item text: .item rows for {stats.items_with_row:,} of {stats.items:,} items",
    ]
    if stats.coverage and stats.items:
        lines.append(
            "  text coverage: "
            + ", ".join(f"{column} {100 * n / stats.items:.2f}%" for column, n in stats.coverage.items())
        )
    return "\n".join(lines)


def read_statistics(folder: str, name: str | None = None) -> DatasetStats:
    """Statistics of ``<folder>/<name>.inter`` and ``.item`` (name: the folder's name), streamed."""
    name = name or os.path.basename(os.path.normpath(folder))
    inter = os.path.join(folder, f"{name}.inter")
    if not os.path.isfile(inter):
        raise MissingDatasetError(f"{inter} not found; give a dataset folder that holds {name}.inter")
    lengths: dict[str, int] = {}
    pairs: set[tuple[str, str]] = set()
    repeated = 0
    interactions = AtomicFile(inter)
    user_col, item_col = interactions.header.index("user_id"), interactions.header.index("item_id")
    if user_col is None or item_col is None:
        raise ValueError(f"{inter}: header {interactions.header.names} lacks user_id or item_id")
    for _, values in interactions.rows():
        pair = (values[user_col], values[item_col])
        lengths[pair[0]] = lengths.get(pair[0], 0) + 1
        if pair in pairs:
            repeated += 1
        else:
            pairs.add(pair)
    items = {item for _, item in pairs}
    del pairs
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    item_file = os.path.join(folder, f"{name}.item")
    if os.path.isfile(item_file):
        texts = AtomicFile(item_file)
        names = texts.header.names
        columns = names[1:]
        for _, values in texts.rows():
            if values[0] in items:
                rows[values[0]] = dict(zip(names, values, strict=True))
    return summarize(list(lengths.values()), items, repeated, rows, columns)


def recbole_statistics(folder: str, name: str | None = None, model: str = "SASRec") -> dict:
    """Counts as the pipeline's RecBole dataset sees them (our config and dataset YAML applied)."""
    folder = os.path.normpath(folder)
    name = name or os.path.basename(folder)
    config = LLMEmbConfig(
        model=get_model(model),
        dataset=name,
        config_dict={"data_path": os.path.dirname(folder), "show_progress": False, "state": "ERROR"},
    )
    with warnings.catch_warnings():
        # RecBole 1.2.1's loader warns about pandas chained assignment on every load.
        warnings.simplefilter("ignore", FutureWarning)
        dataset = create_dataset(config)
    users, items = dataset.user_num - 1, dataset.item_num - 1  # RecBole counts a padding id
    return {
        "users": users,
        "items": items,
        "interactions": dataset.inter_num,
        "density": dataset.inter_num / (users * items),
        "mean_length": dataset.inter_num / users,
    }
