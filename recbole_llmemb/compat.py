"""The process-wide fixes that RecBole 1.2.1 needs on today's stack (a fix of one stage lives in that stage).

- numpy 2 removed ``np.float_``/``np.complex_``/``np.unicode_``, which RecBole's ``Config``
  aliases on construction, and ``np.float``, which its metrics (NDCG, MRR, MAP) read and only
  that ``Config`` sets: restore them (only where missing, so numpy 1 is untouched).
- ``recbole/model/sequential_recommender/sine.py`` switches on autograd anomaly detection for the
  whole process when ``recbole.model`` is imported (~30% slower training): switch it back off.
- torch >= 2.6 loads with ``weights_only=True``, which cannot read RecBole checkpoints (they pickle
  the Config, with pickle protocol 4): :func:`load_recbole_checkpoint` and the trainer's
  ``load_checkpoint`` hook (resume, best-model load) read them with the restricted unpickler of
  :mod:`.artifacts.safe_checkpoints`, which runs no code from the file, and only once a cached file's bytes
  match the record written beside it. The trainer's ``_save_checkpoint`` writes them atomically
  (RecBole writes in place, so a killed run could leave a truncated one).
- ``recbole.quick_start`` imports ray, which breaks on numpy 2 and setuptools >= 81: this package
  never imports it (a test checks).
- pandas 3 breaks RecBole's ``token_seq`` loading: pinned ``pandas<3`` in setup.cfg.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from recbole.utils import init_logger as recbole_init_logger

from .artifacts.records import read_record, verified_record
from .artifacts.safe_checkpoints import read_checkpoint

_NUMPY_ALIASES = {"float_": "float64", "complex_": "complex128", "unicode_": "str_", "float": "float64"}


def restore_numpy_aliases() -> None:
    """Give numpy 2 back the aliases that RecBole's ``Config.compatibility_settings`` reads, and the
    ``np.float`` it sets (a metric computed before any ``Config`` is made needs it)."""
    for old, new in _NUMPY_ALIASES.items():
        if not hasattr(np, old):
            setattr(np, old, getattr(np, new))


def import_recbole_models() -> None:
    """Import RecBole's sequential models and undo the process-wide anomaly switch they turn on."""
    import recbole.model.sequential_recommender  # noqa: F401  (imports sine.py, which flips it)

    torch.autograd.set_detect_anomaly(False)


def apply() -> None:
    """Apply every compatibility fix; idempotent, called when ``recbole_llmemb`` is imported."""
    restore_numpy_aliases()
    import_recbole_models()


def load_recbole_checkpoint(
    path: str,
    device: torch.device | str = "cpu",
    key: str | None = None,
    users_own: bool = False,
    option: str | None = None,
) -> dict:
    """A RecBole checkpoint's dict (its ``config`` a Config), read without running code from the file.

    A file with a record is read only after its bytes match the record (and ``key``); ``users_own``:
    a file the user named (``pretrained_srs_file``) may have none. ``option``: the setting that named
    the file, which an error names; without it the file is a cache artifact, to delete and rebuild.
    """
    prefix = f"{option}: " if option else ""
    if option:
        remedy = "give a checkpoint that recbole-llmemb or RecBole training wrote"
    else:
        remedy = "delete it and its .json to rebuild it"
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{prefix}{path} does not exist; {remedy if option else 'run its stage again'}"
        )
    if read_record(path) is not None or not users_own:
        verified_record(path, key)
    return read_checkpoint(path, device, remedy, prefix)


def init_logger(config) -> None:
    """RecBole's ``init_logger``, safe when two runs start at once in one folder.

    RecBole's ``ensure_dir`` checks and then creates ``./log/<model>``: the second of two
    concurrent runs fails with FileExistsError, so the folders are made here first.
    """
    os.makedirs(os.path.join("log", str(config["model"])), exist_ok=True)
    recbole_init_logger(config)
