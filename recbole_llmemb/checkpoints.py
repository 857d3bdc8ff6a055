"""Where trained models are cached, under a key of the settings that shape their training."""

from __future__ import annotations

import hashlib
import json
import os

from .config import cache_dir, drop_neutral
from .llm.loading import llm_fingerprint

# Runtime and reporting settings: they never change what a model learns (left out of cache keys).
_NOT_IN_TRAINING_KEY = {
    "results_dir", "llmemb_cache_dir", "checkpoint_dir", "show_progress", "device", "gpu_id", "use_gpu",
    "state", "log_wandb", "wandb_project", "worker",
    "eval_batch_size", "report_negatives",
    "llmemb_dropout_prob",  # it acts through the dropout keys it sets, which are in the key
}  # fmt: skip
_REPORTING_PREFIXES = ("longtail_", "convert_")  # convert_* shape the data files, not training
# Settings that only LLMEmb models read: a plain backbone's cache key leaves them out.
_LLMEMB_ONLY_PREFIXES = (
    "llm_", "prompt_", "adapter_", "align_", "use_adapter", "freeze_llm_table", "pretrained_srs_file", "scft",
    "item_id_residual", "llmemb_table_file",
)  # fmt: skip
# Later options and the value that reproduces the behaviour from before they existed (see config_key).
_NEUTRAL_WHEN_ADDED = {"llmemb_table_file": None}


def config_key(config, skip_prefixes: tuple[str, ...] = ()) -> str:
    """Hash of the config values that shape training (runtime and reporting keys left out)."""
    items = {
        k: v
        for k, v in config.final_config_dict.items()
        if k not in _NOT_IN_TRAINING_KEY and not k.startswith(_REPORTING_PREFIXES + skip_prefixes)
    }
    # Options added after models were cached: at the value that does what the code did before them
    # they stay out of the key, so those models keep their caches (hours of CPU on amazon-beauty).
    items = drop_neutral(items, dict(_NEUTRAL_WHEN_ADDED, scft_seed=items.get("seed")))
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pretrain_key(config) -> str:
    """Key of a plain backbone: LLMEmb-only settings cannot change it."""
    return config_key(config, _LLMEMB_ONLY_PREFIXES)


def pretrained_checkpoint(config) -> str:
    """Where the plain backbone of ``config`` is cached (the pipeline's alignment target)."""
    return os.path.join(cache_dir(config), f"pretrained-{config['model']}-{pretrain_key(config)}.pth")


def llmemb_checkpoint(config) -> str:
    """Where the LLMEmb model of ``config`` is cached: its settings (alignment target included) and LLM."""
    key = f"{config_key(config)}-{llm_fingerprint(config['llm_path'])[:8]}"
    return os.path.join(cache_dir(config), f"{config['model']}-{key}.pth")
