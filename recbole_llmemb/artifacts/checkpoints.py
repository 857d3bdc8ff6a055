"""Where trained models are cached, under a key of everything that shapes their training.

A key holds the settings that change results (each plugin setting declares whether it does) and
the contents of the inputs: the ``.inter`` file for every model; for an LLMEmb model also its item
table's key (which holds the LLM, SCFT and item text) and its alignment target's key. Paths never enter a key, so a
copied dataset, model or ``saved/`` folder is reused, and an edited file never is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..config import cache_dir
from ..distributed import world_size
from ..settings import Declared, RATSettings, declared_settings
from ..settings.recbole_options import PROCESS_SETTINGS, RECBOLE_INPUTS, RECBOLE_RUNTIME
from .fingerprints import dataset_fingerprint, file_sha256, key_of
from .records import read_record

# RecBole's options that no key holds; every other one is in the keys, a key neither knows too.
_RECBOLE_LEFT_OUT = RECBOLE_RUNTIME | RECBOLE_INPUTS | PROCESS_SETTINGS


# Metric names of the evaluator's popularity and history-length groups (evaluation/longtail.py).
_GROUP_METRIC_PREFIXES = ("tail_", "head_", "group", "short_", "long_")


def _stops_on_a_group(config) -> bool:
    """``valid_metric`` is a group's metric: the ``longtail_*`` settings that draw the groups then
    decide the early stopping, hence the trained model."""
    return str(config["valid_metric"] or "").lower().startswith(_GROUP_METRIC_PREFIXES)


def _in_key(key: str, declared: Mapping[str, Declared], plain: bool, group_stopping: bool = False) -> bool:
    one = declared.get(key)
    if one is None:
        return key not in _RECBOLE_LEFT_OUT
    steers = group_stopping and key.startswith("longtail_")
    return (one.in_key or steers) and not (plain and one.llmemb_only)


def training_settings(config, plain: bool = False) -> dict:
    """The config values that shape training, as the config holds them: the plugin's settings that
    change results (:class:`~.settings.Effect`), for a ``plain`` backbone not the LLMEmb-only ones,
    the ``longtail_*`` groups too when a group's metric stops training (``valid_metric``), and
    RecBole's options but the few that never do (:mod:`~recbole_llmemb.settings.recbole_options`). With
    several processes, their number (each trains on its share of every batch: another run)."""
    declared, group_stopping = declared_settings(), _stops_on_a_group(config)
    settings = {
        k: v for k, v in config.final_config_dict.items() if _in_key(k, declared, plain, group_stopping)
    }
    # As RecBole describes one process, so that one-process keys are what they always were.
    settings.update(local_rank=0, single_spec=True)
    if world_size() > 1:
        settings["processes"] = world_size()
    return settings


def pretrain_key(config) -> str:
    """Key of a plain backbone: its settings (LLMEmb-only ones left out) and the ``.inter`` contents."""
    settings = training_settings(config, plain=True)
    return key_of("plain", settings, dataset_fingerprint(config, ("inter",)))


def pretrained_checkpoint(config, key: str | None = None) -> str:
    """Where the plain backbone of ``config`` (of ``key``, its :func:`pretrain_key`) is cached."""
    return os.path.join(cache_dir(config), f"pretrained-{config['model']}-{key or pretrain_key(config)}.pth")


def alignment_target_key(checkpoint: str | None) -> str | None:
    """A plain checkpoint's key: its recorded one (the pipeline's), else its SHA-256 (a user's file)."""
    if not checkpoint:
        return None
    record = read_record(checkpoint)
    return record["key"] if record and "key" in record else file_sha256(checkpoint)


def llmemb_key(config, table_key: str) -> str:
    """Key of an LLMEmb model: its settings, the ``.inter`` contents, its table and alignment target."""
    target = alignment_target_key(RATSettings.from_config(config).pretrained_srs_file)
    return key_of(
        "llmemb", training_settings(config), dataset_fingerprint(config, ("inter",)), table_key, target
    )


def llmemb_checkpoint(config, key: str) -> str:
    """Where the LLMEmb model of ``config`` and ``key`` (its :func:`llmemb_key`) is cached."""
    return os.path.join(cache_dir(config), f"{config['model']}-{key}.pth")
