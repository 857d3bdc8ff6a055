"""Settings checked before a run starts: unknown keys get a warning with the closest known one, the
plugin's own keys a type and range check with a one-line error (RecBole's: ``option_rules``).

RecBole ignores any key it does not know, so a typo (``scft_lora_rank``) would run with the
default and no word.
"""

from __future__ import annotations

import difflib
import glob
import logging
import os
from collections.abc import Callable
from functools import lru_cache

import torch
import yaml
from recbole.utils import argument_list

from .config import PROPERTIES_DIR, RECBOLE_PROPERTIES_DIR
from .data.cold_items import COLD_RULES
from .data.sequence_examples import REGIMES
from .llm.loading import LLM_DTYPES
from .llm.pooling import POOLERS
from .model.adapter import ACTIVATIONS, NORMS
from .model.alignment_loss import SIMILARITIES
from .model.embedding_builder import ADAPTER_DTYPES, TABLE_NORMS
from .model.id_view import INITS as ID_VIEW_INITS
from .model.sampled_softmax import PROPOSALS
from .model.variants import RESIDUAL_INITS
from .option_rules import (
    POSITIVE,
    PROBABILITY,
    boolean,
    check_values,
    integer,
    list_of,
    number,
    one_of,
    optional,
    strings,
)

logger = logging.getLogger(__name__)

# Keys RecBole sets or reads that no YAML names (its launcher, devices, derived settings).
RECBOLE_RUNTIME_KEYS = {
    "model", "dataset", "MODEL_TYPE", "MODEL_INPUT_TYPE", "device", "eval_type", "local_rank", "single_spec",
    "valid_metric_bigger", "verbose", "world_size", "ip", "port", "nproc", "offset", "config_file",
}  # fmt: skip
_warned: set[str] = set()


@lru_cache(maxsize=1)
def known_settings() -> frozenset[str]:
    """Every key of RecBole's YAML files (all models and datasets), its argument lists, and ours."""
    keys = set(RECBOLE_RUNTIME_KEYS)
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        keys.update(getattr(argument_list, name))
    for root in (RECBOLE_PROPERTIES_DIR, PROPERTIES_DIR):
        for path in glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True):
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
            if isinstance(loaded, dict):
                keys.update(loaded)
    return frozenset(keys)


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


def cold_items(value) -> str | None:
    if isinstance(value, list) and value:
        return None
    fraction = number(0, 1, low_open=True)(value) is None
    return None if fraction else "a fraction in (0, 1) or a list of item ids"


def exclude_history(value) -> str | None:
    return None if value in ("auto", True, False) else "auto, True or False"


def torch_device(value) -> str | None:
    """Rule of ``llm_device``: a device torch knows (cpu, cuda, cuda:1, mps)."""
    try:
        torch.device(value)
    except (RuntimeError, TypeError):
        return "a torch device such as cpu, cuda or cuda:1"
    return None


RULES: dict[str, Callable] = {
    "train_regime": one_of(*REGIMES), "sequence_bucket_batches": integer(0),
    "eval_exclude_history": exclude_history, "align_max_items": integer(0),
    "item_id_residual_init": one_of(*RESIDUAL_INITS), "llmemb_id_view": boolean,
    "llmemb_id_view_init": one_of(*ID_VIEW_INITS), "llm_pca_dim": integer(0), "llm_batch_size": integer(1), "llm_max_length": integer(1),
    "llm_checkpoint_every": integer(1), "llm_pooling": one_of(*POOLERS), "llm_pca_whiten": boolean,
    "llm_table_norm": one_of(*TABLE_NORMS), "scft": boolean, "scft_drop_ratio": PROBABILITY,
    "scft_fresh_views": boolean, "scft_temperature": POSITIVE, "scft_learnable_temperature": boolean,
    "scft_exclude_positive": boolean, "scft_lora_r": integer(1), "scft_lora_alpha": POSITIVE,
    "scft_lora_dropout": PROBABILITY, "scft_lora_target_modules": strings, "scft_lora_layers": integer(0),
    "scft_learning_rate": POSITIVE, "scft_weight_decay": number(0), "scft_warmup_ratio": number(0, 1, high_open=False),
    "scft_batch_size": integer(2), "scft_gradient_accumulation": integer(1), "scft_max_length": integer(1),
    "scft_epochs": integer(0), "scft_max_steps": integer(0), "scft_gradient_checkpointing": boolean,
    "scft_seed": optional(integer(0)), "scft_checkpoint_every": integer(1), "scft_eval_items": integer(0),
    "prompt_fields": optional(strings), "prompt_list_fields": strings, "prompt_max_value_chars": integer(0),
    "use_adapter": boolean, "adapter_hidden_dims": optional(list_of(integer(1), "sizes >= 1")),
    "adapter_activation": one_of(*ACTIVATIONS), "adapter_dropout": PROBABILITY, "adapter_norm": one_of(*NORMS),
    "adapter_learning_rate": optional(POSITIVE), "item_id_residual": boolean,
    "llmemb_dropout_prob": optional(PROBABILITY), "freeze_llm_table": boolean, "align_weight": number(0),
    "align_temperature": POSITIVE, "align_similarity": one_of(*SIMILARITIES), "eval_negatives": integer(0),
    "report_negatives": list_of(integer(0), "whole numbers >= 0"),
    "longtail_head_ratio": number(0, 1, low_open=True), "longtail_threshold": optional(integer(1)),
    "longtail_group_bounds": list_of(integer(1), "whole numbers >= 1"),
    "longtail_user_length_threshold": optional(integer(1)),
    "sampled_softmax_negatives": integer(0), "sampled_softmax_proposal": one_of(*PROPOSALS),
    "sampled_softmax_beta": number(0), "adapter_dtype": one_of(*ADAPTER_DTYPES),
    "llm_dtype": one_of("auto", *LLM_DTYPES), "scft_dtype": optional(one_of("auto", *LLM_DTYPES)),
    "eval_cold_items": optional(cold_items), "eval_cold_rule": one_of(*COLD_RULES),
    "eval_cold_seed": optional(integer(0)),
    "eval_cold_without_scft": boolean, "eval_cold_reference": boolean, "llm_device": optional(torch_device),
}  # fmt: skip


def check_settings(config) -> None:
    """Raise a one-line ValueError for the first plugin setting of the wrong type or out of range.

    RecBole's own options are checked by ``LLMEmbConfig`` itself, before RecBole's Config uses them.
    """
    check_values(config, RULES)
