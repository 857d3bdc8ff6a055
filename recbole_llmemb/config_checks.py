"""Settings checked before a run starts: unknown keys get a warning with the closest known one, the
plugin's own settings their rules (:mod:`.settings`; RecBole's options: ``option_rules``).

RecBole ignores any key it does not know, so a typo (``scft_lora_rank``) would run with the
default and no word.
"""

from __future__ import annotations

import difflib
import glob
import logging
import os
from functools import lru_cache

import yaml
from recbole.utils import argument_list

from .config import PROPERTIES_DIR, RECBOLE_PROPERTIES_DIR
from .settings import LLMEmbSettings, declared_settings

logger = logging.getLogger(__name__)

# Keys RecBole sets or reads that no YAML names (its launcher, devices, derived settings).
RECBOLE_RUNTIME_KEYS = {
    "model", "dataset", "MODEL_TYPE", "MODEL_INPUT_TYPE", "device", "eval_type", "local_rank", "single_spec",
    "valid_metric_bigger", "verbose", "world_size", "ip", "port", "nproc", "offset", "config_file",
}  # fmt: skip
_warned: set[str] = set()


def yaml_keys(root: str) -> set[str]:
    """Every key the YAML files under ``root`` set."""
    keys: set[str] = set()
    for path in glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
        if isinstance(loaded, dict):
            keys.update(loaded)
    return keys


@lru_cache(maxsize=1)
def recbole_settings() -> frozenset[str]:
    """RecBole's options: every key of its YAML files (all models and datasets) and argument lists."""
    keys = set(RECBOLE_RUNTIME_KEYS) | yaml_keys(RECBOLE_PROPERTIES_DIR)
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        keys.update(getattr(argument_list, name))
    return frozenset(keys)


@lru_cache(maxsize=1)
def known_settings() -> frozenset[str]:
    """RecBole's options, the plugin's settings, and every key of the plugin's YAML files."""
    return recbole_settings() | frozenset(declared_settings()) | frozenset(yaml_keys(PROPERTIES_DIR))


def warn_unknown_settings(settings: dict) -> list[str]:
    """Warn (once per key) about each key that neither RecBole nor the plugin knows; the warnings."""
    known = known_settings()
    messages = []
    for key in settings:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]}?)" if close else ""
        messages.append(f"unknown setting '{key}'{hint}: RecBole and recbole-llmemb ignore it")
        if key not in _warned:
            _warned.add(key)
            logger.warning(messages[-1])
    return messages


def check_settings(config) -> LLMEmbSettings:
    """Every plugin setting of ``config``, typed; a one-line ValueError for the first one of the
    wrong type or range. RecBole's own options are checked by ``LLMEmbConfig`` itself, before
    RecBole's Config uses them."""
    return LLMEmbSettings.from_config(config)
