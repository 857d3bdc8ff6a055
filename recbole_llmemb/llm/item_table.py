"""The LLM item table: one vector per item token, saved with a record of its inputs; PCA."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..artifacts.atomic_write import atomic_write
from ..artifacts.records import ArtifactError, bytes_sha256, read_record, verified_record, write_record

logger = logging.getLogger(__name__)


@dataclass
class ItemTable:
    """Item vectors keyed by item token (not by RecBole's internal id, which depends on filtering).

    A PCA'd table keeps its ``projection`` (``mean``, ``components``, ``scale``): the vectors of
    items that come later are projected exactly as these were, without refitting.
    """

    tokens: list[str]
    vectors: np.ndarray
    projection: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.tokens) != len(self.vectors):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.vectors)} vectors")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """LLM vectors of other items through this table's PCA: ``(v - mean) @ components.T / scale``."""
        if not self.projection:
            raise ValueError("this table was not reduced by PCA: it has no projection to apply")
        p = self.projection
        return ((np.asarray(vectors, dtype=np.float64) - p["mean"]) @ p["components"].T / p["scale"]).astype(
            np.float32
        )

    def save(self, path: str, key: str, **facts) -> None:
        """Write atomically (temp file + rename), with the record ``<path>.json`` (key, inputs, SHA-256)."""
        buffer = io.BytesIO()
        arrays = {f"projection_{name}": value for name, value in self.projection.items()}
        np.savez(buffer, tokens=np.array(self.tokens, dtype=str), vectors=self.vectors, **arrays)
        data = buffer.getvalue()
        write_record(path, key, bytes_sha256(data), items=len(self.tokens), dim=self.dim, **facts)
        with atomic_write(path, "wb") as handle:
            handle.write(data)

    @classmethod
    def load(cls, path: str, key: str | None = None, require_record: bool = True) -> ItemTable:
        """Read a table whose bytes match its record (and ``key``); numpy arrays only, never pickle.

        ``require_record=False``: a table made elsewhere, without a record, is read as it is.
        """
        if require_record or read_record(path) is not None:
            verified_record(path, key)
        try:
            with np.load(path, allow_pickle=False) as data:
                projection = {
                    k.removeprefix("projection_"): data[k] for k in data.files if k.startswith("projection_")
                }
                return cls([str(t) for t in data["tokens"]], data["vectors"], projection)
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise ArtifactError(
                f"{path}: not a readable item table ({type(error).__name__}: {error}); an item table is an"
                " .npz with 'tokens' and 'vectors'"
            ) from error

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


def check_pca_dim(dim: int, items: int, width: int | None = None) -> None:
    """PCA of ``items`` vectors of size ``width`` (None: unknown) keeps at most min(items, width)
    components: a one-line error naming ``llm_pca_dim`` otherwise."""
    limit = min(items, width) if width else items
    if not 0 < dim <= limit:
        sizes = f"{items} items" + (f" and LLM size {width}" if width else "")
        raise ValueError(
            f"llm_pca_dim: {dim} must be between 1 and {limit} (PCA of {sizes}); set llm_pca_dim to at"
            f" most {limit}, or to 0 to keep the full LLM size"
        )


def reduce_pca(table: ItemTable, dim: int, seed: int = 0) -> ItemTable:
    """PCA (scikit-learn) of the table to ``dim`` components, not whitened: the table's
    ``llm_table_norm: standardize`` gives the whitened table (to 5e-7 on amazon-beauty)."""
    from sklearn.decomposition import PCA

    check_pca_dim(dim, *table.vectors.shape)
    pca = PCA(n_components=dim, random_state=seed)
    vectors = pca.fit_transform(table.vectors.astype(np.float64)).astype(np.float32)
    logger.info(
        "PCA %d -> %d keeps %.1f%% of the variance",
        table.dim,
        dim,
        100 * float(pca.explained_variance_ratio_.sum()),
    )
    # "scale" stays in the projection: a table whitened by an earlier version projects new items alike.
    return ItemTable(
        table.tokens, vectors, {"mean": pca.mean_, "components": pca.components_, "scale": np.ones(dim)}
    )
