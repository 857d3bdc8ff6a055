"""The cold-item split: some items taken out of the data entirely, as if they did not exist yet.

``eval_cold_items`` (a fraction, or a list of item ids) picks them: at random with ``eval_cold_seed``, or
(``eval_cold_rule: last``) the items that appeared last in time. Every interaction with a cold
item is removed from the files the models train and validate on, and their rows from the
``.item`` file that SCFT and the PCA read; the cold items' rows go to a file of their own, which
adding items reads later. The files are an artifact: ``<cache>/cold-<key>/<dataset>/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..artifacts.atomic_write import atomic_write
from ..artifacts.fingerprints import dataset_fingerprint, key_of
from ..artifacts.locks import artifact_lock
from ..config import cache_dir, config_get
from ..distributed import barrier, is_main
from ..settings import ColdItemSettings
from .atomic_files import AtomicFile, write_atomic_file


@dataclass
class ColdSplit:
    """The cold items and where the warm data and the cold items' text are."""

    cold: list[str]  # item tokens, in the order they are added to a model
    data_path: str  # a data_path whose <dataset>/ holds the warm .inter and .item
    cold_item_file: str  # the .item rows of the cold items


def choose_cold_items(
    sequences: dict[str, list[tuple[float, str]]], setting, rule: str = "random", seed: int = 0
) -> list[str]:
    """Cold item tokens: ``setting`` a fraction of the items (of ``sequences``: user -> [(time, item)])
    or a list of item ids. ``rule``: ``random`` (seeded) or ``last`` (latest first appearance)."""
    first_seen: dict[str, float] = {}
    for events in sequences.values():
        for time, item in events:
            first_seen[item] = min(time, first_seen.get(item, time))
    items = sorted(first_seen)
    if isinstance(setting, list | tuple):
        unknown = [str(t) for t in setting if str(t) not in first_seen]
        if unknown:
            raise ValueError(
                f"eval_cold_items: {len(unknown)} ids are not items of the dataset, e.g. {unknown[:3]}"
            )
        return [str(t) for t in setting]
    fraction = float(setting)
    count = max(1, round(fraction * len(items)))
    if rule == "last":
        return sorted(items, key=lambda item: (first_seen[item], item))[-count:]
    chosen = np.random.default_rng([seed, 7]).choice(len(items), size=count, replace=False)
    return [items[i] for i in sorted(chosen)]


def read_sequences(config) -> dict[str, list[tuple[float, str]]]:
    """Each user's ``(time, item)`` in time order (file order among equal times), from ``.inter``."""
    inter = _atomic_file(config, "inter")
    user, item = inter.header.index(config["USER_ID_FIELD"]), inter.header.index(config["ITEM_ID_FIELD"])
    time = inter.header.index(config_get(config, "TIME_FIELD", ""))
    sequences: dict[str, list[tuple[float, str]]] = {}
    for n, row in enumerate(values for _, values in inter.rows()):
        sequences.setdefault(row[user], []).append((float(row[time]) if time is not None else n, row[item]))
    return {u: sorted(events, key=lambda e: e[0]) for u, events in sequences.items()}


def cold_split(config, sequences: dict[str, list[tuple[float, str]]]) -> ColdSplit:
    """The cold items of ``config`` (chosen among the items of ``sequences``, :func:`read_sequences`)
    and the warm data without them (written once, then reused)."""
    # The seed is apart from RecBole's seed (unless eval_cold_seed is ~): runs over several seeds
    # share one split, and with it one SCFT run and one LLM table, as the leave-one-out split is shared.
    settings = ColdItemSettings.from_config(config)
    cold = choose_cold_items(sequences, settings.items, settings.rule, int(settings.seed))
    key = key_of("cold", dataset_fingerprint(config), sorted(cold))
    root = os.path.join(cache_dir(config), f"cold-{key}")
    folder = os.path.join(root, config["dataset"])
    split = ColdSplit(cold, root, os.path.join(root, f"{config['dataset']}-cold.item"))
    done = os.path.join(root, "done")
    if not os.path.isfile(done):  # a finished split is only read: no lock file (read-only saved/)
        with artifact_lock(root):
            if is_main() and not os.path.isfile(done):
                _write_split(config, set(cold), folder, split.cold_item_file)
                with atomic_write(done, "w") as handle:
                    handle.write("\n".join(cold) + "\n")
    barrier()
    return split


def _write_split(config, cold: set[str], folder: str, cold_item_file: str) -> None:
    os.makedirs(folder, exist_ok=True)
    name, item_field = config["dataset"], config["ITEM_ID_FIELD"]
    separator = config_get(config, "field_separator", "\t")
    inter = _atomic_file(config, "inter")
    column = inter.header.index(item_field)
    warm = [row for _, row in inter.rows() if row[column] not in cold]
    write_atomic_file(os.path.join(folder, f"{name}.inter"), inter.header, warm, separator)
    items = _atomic_file(config, "item")
    column = items.header.index(item_field)
    rows = [row for _, row in items.rows()]
    write_atomic_file(
        os.path.join(folder, f"{name}.item"),
        items.header,
        [r for r in rows if r[column] not in cold],
        separator,
    )
    write_atomic_file(cold_item_file, items.header, [r for r in rows if r[column] in cold], separator)


def _atomic_file(config, kind: str) -> AtomicFile:
    """The dataset's ``.inter`` or ``.item`` file."""
    path = os.path.join(config["data_path"], f"{config['dataset']}.{kind}")
    return AtomicFile(path, config_get(config, "field_separator", "\t"))
