"""A dataset's RecBole atomic files: found, converted from raw files, or a clear error."""

from __future__ import annotations

import logging
import lzma
import os
import shutil

from ..artifacts.atomic_write import atomic_write
from ..artifacts.locks import artifact_lock
from ..settings import ConversionSettings
from .convert import conversion_plan, convert_from_config, locate_raw_files, missing_files_message
from .errors import MissingDatasetError
from .inter_check import check_inter_file

logger = logging.getLogger(__name__)


def unpack_shipped_files(folder: str, name: str) -> list[str]:
    """Unpack ``<name>.inter.xz`` / ``<name>.item.xz`` (a copy shipped in the repository) where the
    plain file is missing; the paths written. Each is written by temp file + rename."""
    written = []
    for kind in ("inter", "item"):
        path = os.path.join(folder, f"{name}.{kind}")
        if os.path.isfile(path) or not os.path.isfile(f"{path}.xz"):
            continue
        with artifact_lock(path):
            if os.path.isfile(path):  # another run unpacked it while this one waited
                continue
            logger.info("dataset '%s': unpacking %s.xz (first use)", name, path)
            with lzma.open(f"{path}.xz", "rb") as source, atomic_write(path, "wb") as target:
                shutil.copyfileobj(source, target, length=1 << 20)
        written.append(path)
    return written


def require_atomic_files(config) -> str:
    """Path of ``<data_path>/<dataset>.inter``, unpacking a shipped ``.xz`` copy or converting
    ``<data_path>/raw/`` first if needed.

    Conversion happens when the dataset's YAML names a ``convert_format`` and its raw files are
    in ``<data_path>/raw/``. Otherwise a one-line error says which files to put where: RecBole
    would try to download unknown names, and this machine has no network. The ``.inter`` file is
    then checked line by line (:func:`check_inter_file`).
    """
    name, folder = config["dataset"], config["data_path"]
    inter = os.path.join(folder, f"{name}.inter")
    unpack_shipped_files(folder, name)
    if not os.path.isfile(inter):
        if ConversionSettings.from_config(config).format is None:
            raise MissingDatasetError(
                f"dataset '{name}': {inter} not found; put the RecBole atomic files {name}.inter and"
                f" {name}.item (item text for the prompts) in {folder}/, or set data_path"
            )
        settings = conversion_plan(config)
        _, missing = locate_raw_files(os.path.join(folder, "raw"), settings)
        if missing:
            raise MissingDatasetError(missing_files_message(name, folder, settings, missing))
        convert_from_config(config, settings)
    check_inter_file(inter, config)
    return inter
