"""Where trained models are cached, under a key of everything that shapes their training.

A key holds the settings (runtime and reporting ones left out) and the contents of the inputs:
the ``.inter`` file for every model; for an LLMEmb model also its item table's key (which holds
the LLM, SCFT and item text) and its alignment target's key. Paths never enter a key, so a
copied dataset, model or ``saved/`` folder is reused, and an edited file never is.
"""

from __future__ import annotations

import os

from .config import cache_dir
from .distributed import world_size
from .fingerprints import dataset_fingerprint, file_sha256, key_of
from .records import read_record

# Runtime and reporting settings, and paths whose contents enter the key instead of their names.
_NOT_IN_TRAINING_KEY = {
    "results_dir", "llmemb_cache_dir", "checkpoint_dir", "show_progress", "device", "gpu_id", "use_gpu",
    "state", "log_wandb", "wandb_project", "worker", "eval_batch_size", "report_negatives",
    "data_path", "llm_path", "pretrained_srs_file", "llmemb_table_file",
    "llmemb_dropout_prob",  # it acts through the dropout keys it sets, which are in the key
}  # fmt: skip
# convert_* shape the data files, eval_cold_* choose them (the files' contents are in the key).
_REPORTING_PREFIXES = ("longtail_", "convert_", "eval_cold_")
# Settings that only LLMEmb models read: a plain backbone's cache key leaves them out.
_LLMEMB_ONLY_PREFIXES = (
    "llm_", "llmemb_", "prompt_", "adapter_", "align_", "use_adapter", "freeze_llm_table", "scft",
    "item_id_residual",
)  # fmt: skip


# Set per process by torchrun or RecBole's launcher: a key holds the number of processes instead.
_PROCESS_SETTINGS = {"local_rank", "single_spec", "world_size", "nproc", "ip", "port", "offset"}


def training_settings(config, skip_prefixes: tuple[str, ...] = ()) -> dict:
    """The config values that shape training; with several processes, their number (each trains on
    its share of every batch, so the run is another one)."""
    skip = _REPORTING_PREFIXES + skip_prefixes
    settings = {
        k: v
        for k, v in config.final_config_dict.items()
        if k not in _NOT_IN_TRAINING_KEY | _PROCESS_SETTINGS and not k.startswith(skip)
    }
    # As RecBole describes one process, so that one-process keys are what they always were.
    settings.update(local_rank=0, single_spec=True)
    if world_size() > 1:
        settings["processes"] = world_size()
    return settings


def pretrain_key(config) -> str:
    """Key of a plain backbone: its settings (LLMEmb-only ones left out) and the ``.inter`` contents."""
    settings = training_settings(config, _LLMEMB_ONLY_PREFIXES)
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
    target = alignment_target_key(config["pretrained_srs_file"])
    return key_of(
        "llmemb", training_settings(config), dataset_fingerprint(config, ("inter",)), table_key, target
    )


def llmemb_checkpoint(config, key: str) -> str:
    """Where the LLMEmb model of ``config`` and ``key`` (its :func:`llmemb_key`) is cached."""
    return os.path.join(cache_dir(config), f"{config['model']}-{key}.pth")
