"""Embedding every item prompt with the LLM: batched, length-sorted, resumable."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..artifacts.atomic_write import atomic_write
from ..progress import progress
from ..settings import TableSettings
from .loading import llm_device_and_dtype, load_finetuned_llm, load_llm, resolve_llm_path
from .pooling import pool

logger = logging.getLogger(__name__)


@torch.no_grad()
def embed_prompts(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int = 16,
    max_length: int = 128,
    show_progress: bool = True,
    done: np.ndarray | None = None,
    vectors: np.ndarray | None = None,
    save: Callable[[np.ndarray, np.ndarray], None] | None = None,
    save_every: int = 50,
    pooling: str = "mean",
) -> np.ndarray:
    """Pooled (``pooling``: mean or last token) final hidden states [N, D] of ``prompts``, in order.

    Prompts are sorted by token length so each padded batch wastes little compute. Rows where
    ``done`` is True are taken from ``vectors`` (a resumed run); ``save(vectors, done)`` is
    called every ``save_every`` batches so an interrupted run can resume.
    """
    lengths = [
        len(ids) for ids in tokenizer(list(prompts), truncation=True, max_length=max_length)["input_ids"]
    ]
    device = next(model.parameters()).device
    out = np.zeros((len(prompts), model.config.hidden_size), dtype=np.float32)
    done = np.zeros(len(prompts), dtype=bool) if done is None else done.copy()
    if vectors is not None:
        out[done] = vectors[done]
    order = np.array([i for i in np.argsort(lengths, kind="stable") if not done[i]], dtype=np.int64)
    batches = range(0, len(order), batch_size)
    for n, start in enumerate(
        progress(batches, desc="Embedding items", unit="batch", disable=not show_progress)
    ):
        index = order[start : start + batch_size]
        batch = tokenizer(
            [prompts[i] for i in index],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        hidden = model(**batch).last_hidden_state
        out[index] = pool(hidden, batch["attention_mask"], pooling).float().cpu().numpy()
        done[index] = True
        if save is not None and (n + 1) % save_every == 0:
            save(out, done)
    return out


def embedding_settings(config) -> dict:
    """:func:`embed_prompts`' settings: batch size, truncation length, pooling."""
    settings = TableSettings.from_config(config)
    return {
        "batch_size": int(settings.batch_size),
        "max_length": int(settings.max_length),
        "pooling": settings.pooling,
    }


def export_item_vectors(
    config, prompts: dict[str, str], partial: str, adapter_dir: str | None, show_progress: bool = True
) -> np.ndarray:
    """Vectors of ``prompts`` (in their order) from the LLM, with the SCFT adapter merged when given.

    Progress goes to ``partial`` every ``llm_checkpoint_every`` batches; a run that finds it resumes.
    """
    device, dtype = llm_device_and_dtype(config)
    settings = TableSettings.from_config(config)
    llm_path = settings.llm_path
    logger.info(
        "LLM item table: embedding %d items with %s%s",
        len(prompts),
        resolve_llm_path(llm_path),
        f" + SCFT adapter {adapter_dir}" if adapter_dir else " (no SCFT)",
    )
    if adapter_dir:
        model, tokenizer = load_finetuned_llm(llm_path, adapter_dir, device, dtype)
    else:
        model, tokenizer = load_llm(llm_path, device, dtype)
    done = vectors = None
    if os.path.isfile(partial):
        with np.load(partial) as data:
            done, vectors = data["done"], data["vectors"]
        logger.info(
            "LLM item table: resuming, %d of %d items already embedded", int(done.sum()), len(prompts)
        )

    def save_partial(vectors: np.ndarray, done: np.ndarray) -> None:
        with atomic_write(partial, "wb") as handle:
            np.savez(handle, vectors=vectors, done=done)

    vectors = embed_prompts(
        model,
        tokenizer,
        list(prompts.values()),
        show_progress=show_progress,
        done=done,
        vectors=vectors,
        save=save_partial,
        save_every=int(settings.checkpoint_every),
        **embedding_settings(config),
    )
    require_finite(vectors, list(prompts))
    return vectors


def require_finite(vectors: np.ndarray, tokens: list[str]) -> None:
    """Stop before PCA when the LLM returned NaN or Inf for some items (half precision overflows)."""
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        names = ", ".join(tokens[i] for i in bad[:5])
        raise ValueError(
            f"LLM item table: the LLM returned NaN or Inf for {len(bad)} of {len(tokens)} items (e.g. {names});"
            " nothing was saved: load the LLM in float32, or check its weights and these items' text"
        )
