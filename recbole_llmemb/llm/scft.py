"""The SCFT stage: LoRA-fine-tune the LLM contrastively on two attribute-dropped views of each item.

Stage 1 of the method. Two views of an item keep random subsets of its attributes in random
order; the loss pulls the views' pooled final hidden states together against the other items of
the batch. Only LoRA weights train (peft). The run is an artifact: ``<cache>/scft-<key>/`` with
the adapter in peft's format, keyed by (LLM, item attributes, prompt, settings), resumable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..artifacts.atomic_write import atomic_write
from ..artifacts.fingerprints import CACHE_FORMAT_VERSION, key_of
from ..artifacts.locks import artifact_lock
from ..artifacts.records import ArtifactError
from ..config import cache_dir
from ..distributed import agree, barrier, is_main, world_size
from ..settings import SCFTSettings, TableSettings
from .loading import dtype_name, llm_device_and_dtype, llm_fingerprint, load_llm, resolve_llm_path
from .prompts import PromptTemplate, dataset_attributes
from .rng import isolated_rng
from .scft_trainer import train_scft
from .view_retrieval import view_retrieval
from .views import Attributes

logger = logging.getLogger(__name__)


def scft_key(
    llm_fingerprint: str, prompts: Mapping[str, Attributes], template: PromptTemplate, settings, dtype: str
) -> str:
    """Changes with the LLM's files and precision, the items' attributes and rendering, and every SCFT
    setting that changes results (``settings.key()``: not the checkpoint interval or the check's size)."""
    attributes = sorted((token, list(map(list, pairs))) for token, pairs in prompts.items())
    return key_of("scft", llm_fingerprint, dtype, attributes, template.instruction, settings.key())


@dataclass
class SCFTOutcome:
    """An SCFT run in the cache: its key and folder (``adapter/``, and ``scft.json`` once finished)."""

    key: str
    directory: str
    report: dict | None = None

    @property
    def adapter_dir(self) -> str:
        return os.path.join(self.directory, "adapter")

    @property
    def report_path(self) -> str:
        return os.path.join(self.directory, "scft.json")

    @property
    def finished(self) -> bool:
        return os.path.isfile(self.report_path) and os.path.isdir(self.adapter_dir)


def scft_run(config, attributes: Mapping[str, Attributes]) -> SCFTOutcome:
    """Where the SCFT run of ``config`` on these item attributes lives; nothing is computed."""
    settings = SCFTSettings.from_config(config)
    template = PromptTemplate.from_config(config)
    dtype = dtype_name(llm_device_and_dtype(config, "scft")[1])
    key = scft_key(
        llm_fingerprint(TableSettings.from_config(config).llm_path), attributes, template, settings, dtype
    )
    if world_size() > 1:  # the global batch is scft_batch_size x processes: another training run
        key = key_of(key, "processes", world_size())
    return SCFTOutcome(key, os.path.join(cache_dir(config), f"scft-{key}"))


def run_scft(
    config,
    item_tokens: Sequence[str],
    show_progress: bool = True,
    attributes: dict[str, list[tuple[str, str]]] | None = None,
) -> SCFTOutcome:
    """SCFT on the dataset's item prompts, once per (LLM, prompts, settings); resumable.

    ``attributes``: the items' attribute pairs when the caller has read them already
    (``dataset_attributes``); otherwise they are read here.

    Writes ``<cache>/scft-<key>/``: ``adapter/`` (peft, safetensors), ``loss.csv``,
    ``checkpoint.pt`` and, last, ``scft.json`` (timing, loss, view retrieval before and after).
    """
    if attributes is None:
        attributes = dataset_attributes(config, item_tokens)
    outcome = scft_run(config, attributes)
    if agree(outcome.finished):  # only read: no lock file, so a read-only saved/ serves a re-run
        return _finished_or_trained(config, item_tokens, attributes, outcome, show_progress)
    with artifact_lock(outcome.directory):
        return _finished_or_trained(config, item_tokens, attributes, outcome, show_progress)


def _finished_or_trained(
    config, item_tokens, attributes, outcome: SCFTOutcome, show_progress: bool
) -> SCFTOutcome:
    """``outcome`` with its report: read when the run finished before, else trained now."""
    if agree(outcome.finished):
        logger.info("SCFT: reusing %s", outcome.directory)
        with open(outcome.report_path, encoding="utf-8") as handle:
            outcome.report = json.load(handle)
        if (
            outcome.report.get("key") != outcome.key
            or outcome.report.get("format_version") != CACHE_FORMAT_VERSION
        ):
            raise ArtifactError(
                f"{outcome.report_path}: records another SCFT run (key {outcome.report.get('key')}, format"
                f" {outcome.report.get('format_version')}); delete {outcome.directory} to fine-tune again"
            )
        return outcome

    settings = SCFTSettings.from_config(config)
    template = PromptTemplate.from_config(config)
    llm_path = TableSettings.from_config(config).llm_path
    device, dtype = llm_device_and_dtype(config, "scft")
    logger.info(
        "SCFT: fine-tuning %s on %d items into %s, settings %s",
        resolve_llm_path(llm_path),
        len(attributes),
        outcome.directory,
        settings,
    )
    items = [attributes[t] for t in item_tokens]
    with isolated_rng():
        model, tokenizer = load_llm(llm_path, device, dtype)
        evaluate = settings.eval_items and is_main()  # a diagnostic: rank 0 alone
        before = view_retrieval(model, tokenizer, items, template, settings) if evaluate else {}
        result = train_scft(model, tokenizer, items, template, settings, outcome.directory, show_progress)
        after = view_retrieval(result.model, tokenizer, items, template, settings) if evaluate else {}
    losses = result.losses
    outcome.report = {
        "format_version": CACHE_FORMAT_VERSION,
        "key": outcome.key,
        "inputs": {
            "llm_fingerprint": llm_fingerprint(llm_path),
            "llm_dtype": dtype_name(dtype),
            "attributes_key": key_of(sorted((t, list(map(list, p))) for t, p in attributes.items())),
        },
        "items": len(items),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "items_per_second": round(result.items_per_second, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last_mean": float(np.mean(losses[-max(1, settings.checkpoint_every) :])) if losses else None,
        "view_retrieval_before": before,
        "view_retrieval_after": after,
        "settings": dataclasses.asdict(settings),
        "llm_path": resolve_llm_path(llm_path),
    }
    if world_size() > 1:
        outcome.report["processes"] = world_size()
    if is_main():
        logger.info("SCFT done: %s", {k: v for k, v in outcome.report.items() if k != "settings"})
        with atomic_write(outcome.report_path, "w") as handle:
            json.dump(outcome.report, handle, indent=2)
    barrier()
    return outcome
