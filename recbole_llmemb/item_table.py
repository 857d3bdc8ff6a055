"""The LLM item table: prompts -> LLM -> pooled vectors -> PCA, cached by item token."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .atomic import atomic_write
from .config import cache_dir, config_get
from .llm import check_pooling, llm_fingerprint, load_llm, pool, resolve_llm_path
from .prompts import PromptTemplate, dataset_attributes, render_prompts
from .scft import load_finetuned_llm, run_scft, scft_enabled

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
    for n, start in enumerate(tqdm(batches, desc="Embedding items", unit="batch", disable=not show_progress)):
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


@dataclass
class ItemTable:
    """Item vectors keyed by item token (not by RecBole's internal id, which depends on filtering)."""

    tokens: list[str]
    vectors: np.ndarray

    def __post_init__(self):
        if len(self.tokens) != len(self.vectors):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.vectors)} vectors")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, path: str) -> None:
        """Write atomically (temp file + rename) so an interrupted run leaves no broken cache."""
        with atomic_write(path, "wb") as handle:
            np.savez(handle, tokens=np.array(self.tokens, dtype=str), vectors=self.vectors)

    @classmethod
    def load(cls, path: str) -> ItemTable:
        with np.load(path) as data:
            return cls(tokens=[str(t) for t in data["tokens"]], vectors=data["vectors"])

    def to_internal_ids(self, id2token: Sequence[str]) -> torch.Tensor:
        """Rows in RecBole's internal id order; row 0 ('[PAD]') is zero."""
        position = {token: i for i, token in enumerate(self.tokens)}
        missing = [t for t in id2token[1:] if t not in position]
        if missing:
            raise KeyError(f"{len(missing)} dataset items have no row in the item table, e.g. {missing[:3]}")
        matrix = np.zeros((len(id2token), self.dim), dtype=np.float32)
        rows = [position[t] for t in id2token[1:]]
        matrix[1:] = self.vectors[rows]
        return torch.from_numpy(matrix)


def reduce_pca(table: ItemTable, dim: int, whiten: bool = False, seed: int = 0) -> ItemTable:
    """PCA (scikit-learn) of the table to ``dim`` components."""
    from sklearn.decomposition import PCA

    limit = min(table.vectors.shape)
    if not 0 < dim <= limit:
        raise ValueError(
            f"llm_pca_dim: {dim} must be between 1 and {limit} (items x LLM size of this table);"
            " set llm_pca_dim to 0 to keep the full LLM size"
        )
    pca = PCA(n_components=dim, whiten=whiten, random_state=seed)
    vectors = pca.fit_transform(table.vectors.astype(np.float64)).astype(np.float32)
    logger.info(
        "PCA %d -> %d keeps %.1f%% of the variance",
        table.dim,
        dim,
        100 * float(pca.explained_variance_ratio_.sum()),
    )
    return ItemTable(table.tokens, vectors)


TABLE_NORMS = ("none", "center", "standardize")


def condition_table(matrix: torch.Tensor, mode: str = "none") -> torch.Tensor:
    """Centre, or standardise per dimension, the item rows ``matrix[1:]``; the padding row stays 0.

    PCA components have very unequal variances (the first ~15x the last), so a small adapter
    mostly sees the first few; ``standardize`` gives every kept component the same scale.
    """
    if mode not in TABLE_NORMS:
        raise ValueError(f"llm_table_norm: '{mode}' is not one of {TABLE_NORMS}")
    if mode == "none":
        return matrix
    items = matrix[1:] - matrix[1:].mean(dim=0, keepdim=True)
    if mode == "standardize":
        items = items / items.std(dim=0, keepdim=True).clamp(min=1e-6)
    return torch.cat([torch.zeros_like(matrix[:1]), items], dim=0)


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def table_cache_key(config, prompts: dict[str, str], scft_key: str | None = None) -> str:
    """Changes when the LLM files, the SCFT run, the prompts, the pooling or the max length change."""
    pooling = check_pooling(config_get(config, "llm_pooling", "mean"))
    parts = [
        llm_fingerprint(config_get(config, "llm_path")),
        sorted(prompts.items()),
        pooling,
        int(config_get(config, "llm_max_length", 128)),
    ]
    return _key(*parts, scft_key) if scft_key else _key(*parts)


def build_llm_table(config, item_tokens: Sequence[str], show_progress: bool = True) -> tuple[ItemTable, str]:
    """The raw (un-reduced) LLM table of ``item_tokens`` and its cache key; cached.

    With ``scft`` on, the LLM is first fine-tuned (``recbole_llmemb.scft``, itself cached) and
    the table is embedded by the LLM with the LoRA adapter merged.
    """
    attributes = dataset_attributes(config, item_tokens)  # read once: the prompts and SCFT's views
    prompts = render_prompts(attributes, PromptTemplate.from_config(config))
    scft = run_scft(config, item_tokens, show_progress, attributes) if scft_enabled(config) else None
    key = table_cache_key(config, prompts, scft.key if scft else None)
    path = os.path.join(cache_dir(config), f"llm-table-{key}.npz")
    if os.path.isfile(path):
        logger.info("LLM item table: reusing %s", path)
        return ItemTable.load(path), key
    device = config_get(config, "llm_device") or config["device"]
    logger.info(
        "LLM item table: embedding %d items with %s%s",
        len(prompts),
        resolve_llm_path(config_get(config, "llm_path")),
        f" + SCFT adapter {scft.adapter_dir}" if scft else " (no SCFT)",
    )
    if scft:
        model, tokenizer = load_finetuned_llm(config_get(config, "llm_path"), scft.adapter_dir, device)
    else:
        model, tokenizer = load_llm(config_get(config, "llm_path"), device)
    tokens = list(prompts)
    partial = path.replace(".npz", ".partial.npz")
    done = vectors = None
    if os.path.isfile(partial):
        with np.load(partial) as data:
            done, vectors = data["done"], data["vectors"]
        logger.info("LLM item table: resuming, %d of %d items already embedded", int(done.sum()), len(tokens))

    def save_partial(vectors: np.ndarray, done: np.ndarray) -> None:
        with atomic_write(partial, "wb") as handle:
            np.savez(handle, vectors=vectors, done=done)

    vectors = embed_prompts(
        model,
        tokenizer,
        [prompts[t] for t in tokens],
        batch_size=int(config_get(config, "llm_batch_size", 16)),
        max_length=int(config_get(config, "llm_max_length", 128)),
        show_progress=show_progress,
        done=done,
        vectors=vectors,
        save=save_partial,
        save_every=int(config_get(config, "llm_checkpoint_every", 50)),
        pooling=config_get(config, "llm_pooling", "mean"),
    )
    table = ItemTable(tokens, vectors)
    table.save(path)
    if os.path.isfile(partial):
        os.remove(partial)
    logger.info("LLM item table: saved %s", path)
    return table, key


def build_reduced_table(
    config, item_tokens: Sequence[str], dim: int, show_progress: bool = True
) -> ItemTable:
    """The LLM table reduced by PCA to ``dim`` (0: no reduction); cached beside the raw table."""
    table, key = build_llm_table(config, item_tokens, show_progress)
    if not dim or dim == table.dim:
        return table
    whiten = bool(config_get(config, "llm_pca_whiten", False))
    seed = int(config_get(config, "seed", 0))
    path = os.path.join(cache_dir(config), f"pca-{_key(key, dim, whiten, seed)}.npz")
    if os.path.isfile(path):
        return ItemTable.load(path)
    reduced = reduce_pca(table, dim, whiten, seed)
    reduced.save(path)
    return reduced
