"""Which ``.inter`` columns RecBole loads when no YAML says: the ids, and the time when there is one."""

from __future__ import annotations

import logging
import os

from .atomic_files import AtomicFile

logger = logging.getLogger(__name__)

RECBOLE_DEFAULT_LOAD_COL = {"inter": ["user_id", "item_id"]}


def settle_columns(config) -> bool:
    """Set ``load_col`` from the ``.inter`` header where neither a YAML nor the caller set it; whether
    the file has the time column that orders each user's items.

    RecBole alone loads only the user and item ids, and its time ordering then stops with
    "[timestamp] is not exist in interaction": a dataset without a YAML needs its time column loaded.
    """
    name = config["dataset"]
    path = os.path.join(config["data_path"], f"{name}.inter")
    columns = AtomicFile(path, config["field_separator"] or "\t").header.names
    uid, iid, time = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"], config["TIME_FIELD"]
    for field, option in ((uid, "USER_ID_FIELD"), (iid, "ITEM_ID_FIELD")):
        if field not in columns:
            raise ValueError(
                f"{path}: no '{field}' column (header: {columns}); rename the column or set {option}"
            )
    has_time = bool(time) and time in columns
    if "load_col" not in config.external_config_dict and config["load_col"] == RECBOLE_DEFAULT_LOAD_COL:
        config["load_col"] = {"inter": [uid, iid] + ([time] if has_time else [])}
    if not has_time:
        logger.warning(
            "%s has no '%s' column: each user's items are taken in file order (set TIME_FIELD if the"
            " time column has another name)",
            path,
            time,
        )
    return has_time
