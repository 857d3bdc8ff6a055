"""Checks for a dataset's RecBole atomic files, before RecBole tries to download them."""

from __future__ import annotations

import os


class MissingDatasetError(FileNotFoundError):
    """A dataset's ``.inter`` file is not where the config says."""


def require_atomic_files(config) -> str:
    """Path of ``<data_path>/<dataset>.inter``; a one-line error says what to put where if absent.

    RecBole would otherwise try to download unknown names, and this machine has no network.
    """
    name, folder = config["dataset"], config["data_path"]
    inter = os.path.join(folder, f"{name}.inter")
    if not os.path.isfile(inter):
        raise MissingDatasetError(
            f"dataset '{name}': {inter} not found; put the RecBole atomic files {name}.inter and"
            f" {name}.item (item text for the prompts) in {folder}/, or set data_path"
        )
    item = os.path.join(folder, f"{name}.item")
    if not os.path.isfile(item):
        import logging

        logging.getLogger(__name__).warning(
            "%s not found: every item prompt will hold only the item id", item
        )
    return inter
