"""Every fix that RecBole 1.2.1 needs on today's stack, in one place.

- numpy 2 removed ``np.float_``/``np.complex_``/``np.unicode_``, which RecBole's ``Config``
  aliases on construction: restore them (only where missing, so numpy 1 is untouched).
- ``recbole/model/sequential_recommender/sine.py`` switches on autograd anomaly detection for the
  whole process when ``recbole.model`` is imported (~30% slower training): switch it back off.
- torch >= 2.6 loads with ``weights_only=True``, which cannot read RecBole checkpoints (they pickle
  the Config, with pickle protocol 4): :func:`load_recbole_checkpoint` and
  :class:`CheckpointCompatMixin` (resume, best-model load) read them with the restricted unpickler
  of :mod:`.safe_checkpoints`, which runs no code from the file, and only once a cached file's
  bytes match the record written beside it. The mixin writes checkpoints atomically (RecBole
  writes in place, so a killed run could leave a truncated one).
- ``recbole.quick_start`` imports ray, which breaks on numpy 2 and setuptools >= 81: this package
  never imports it (a test checks).
- pandas 3 breaks RecBole's ``token_seq`` loading: pinned ``pandas<3`` in setup.cfg.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from recbole.utils import init_logger as recbole_init_logger

from .atomic_write import atomic_write
from .fingerprints import file_sha256
from .records import read_record, verified_record, write_record
from .safe_checkpoints import read_checkpoint

_NUMPY_ALIASES = {"float_": "float64", "complex_": "complex128", "unicode_": "str_"}


def restore_numpy_aliases() -> None:
    """Give numpy 2 back the aliases that RecBole's ``Config.compatibility_settings`` reads."""
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


class CheckpointCompatMixin:
    """Trainer mixin: RecBole's checkpoint loading through the restricted unpickler (torch >= 2.6
    cannot read RecBole checkpoints weights-only), and checkpoint saving by temp file + rename."""

    checkpoint_key: str | None = None  # the key the checkpoints of this run are recorded under

    def resume_checkpoint(self, resume_file):
        verified_record(resume_file, self.checkpoint_key)
        original = torch.load

        def load(file, map_location=None, **kwargs):
            return read_checkpoint(str(file), map_location, "delete it and its .json to train from scratch")

        # Only this call's torch.load is redirected; RecBole's method body stays its own.
        torch.load = load
        try:
            return super().resume_checkpoint(resume_file)
        finally:
            torch.load = original

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        # RecBole writes in place: a run killed mid-save would leave a truncated file to resume from.
        target = kwargs.pop("saved_model_file", self.saved_model_file)
        with atomic_write(target, "wb") as handle:  # torch.save takes the open file as well as a path
            super()._save_checkpoint(epoch, verbose=False, saved_model_file=handle)
        write_record(target, self.checkpoint_key, file_sha256(target), kind="partial checkpoint", epoch=epoch)
        if verbose:
            self.logger.info(f"Saving current: {target}")

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data and load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            checkpoint = load_recbole_checkpoint(checkpoint_file, self.device, self.checkpoint_key)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.model.load_other_parameter(checkpoint.get("other_parameter"))
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return super().evaluate(
            eval_data, load_best_model=False, model_file=model_file, show_progress=show_progress
        )


def init_logger(config) -> None:
    """RecBole's ``init_logger``, safe when two runs start at once in one folder.

    RecBole's ``ensure_dir`` checks and then creates ``./log/<model>``: the second of two
    concurrent runs fails with FileExistsError, so the folders are made here first.
    """
    os.makedirs(os.path.join("log", str(config["model"])), exist_ok=True)
    recbole_init_logger(config)
