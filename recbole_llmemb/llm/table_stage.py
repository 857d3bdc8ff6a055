"""The table stage: SCFT (when on), then the LLM item table and its PCA, written as artifacts.

``build_table`` computes what is missing; ``load_table`` only reads (models call it: a model
constructor never runs the LLM). Both find the files from the same keys, so a table built by
``--stage=table`` is the one a model with the same settings loads. Each ``.npz`` has a
``.npz.json`` beside it recording its inputs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..artifacts.fingerprints import file_sha256, key_of
from ..artifacts.locks import artifact_lock
from ..artifacts.records import read_record
from ..config import cache_dir
from ..distributed import agree, barrier, gather_to_main, is_distributed, is_main, rank, world_size
from ..settings import TableSettings
from .item_table import ItemTable, check_pca_dim, reduce_pca
from .loading import dtype_name, llm_device_and_dtype, llm_fingerprint, resolve_llm_path
from .prompts import PromptTemplate, dataset_attributes, prompt_fields, render_prompts
from .rng import isolated_rng
from .scft import SCFTOutcome, run_scft, scft_run
from .table_export import export_item_vectors

logger = logging.getLogger(__name__)


class MissingTableError(FileNotFoundError):
    """A model needs an LLM item table that the table stage has not built."""


@dataclass
class TableFiles:
    """Where the table of one configuration lives, and what it is built from."""

    prompts: dict[str, str]  # item token -> full prompt
    scft: SCFTOutcome | None  # the SCFT run the LLM is fine-tuned by, when SCFT is on
    key: str  # of the raw table
    raw: str  # llm-table-<key>.npz: the LLM's pooled vectors
    pca_key: str | None
    reduced: str | None  # pca-<pca_key>.npz, or None when the table keeps the LLM size (dim 0)
    dim: int
    seed: int


def table_files(config, item_tokens: Sequence[str], dim: int, attributes: dict | None = None) -> TableFiles:
    """The files of ``config``'s table of ``item_tokens`` reduced to ``dim`` (0: not reduced).

    Reads the dataset's ``.item`` file for the prompts and fingerprints the LLM's files; runs nothing.
    """
    if attributes is None:
        attributes = dataset_attributes(config, item_tokens)
    settings = TableSettings.from_config(config)
    prompts = render_prompts(attributes, PromptTemplate.from_config(config))
    scft = scft_run(config, attributes) if settings.scft else None
    llm = llm_fingerprint(settings.llm_path)
    dtype = dtype_name(llm_device_and_dtype(config)[1])
    # The settings that shape the LLM's vectors; the LLM, its precision and SCFT run as their keys.
    max_length, pooling = int(settings.max_length), settings.pooling
    key = key_of("table", llm, dtype, sorted(prompts.items()), pooling, max_length, scft and scft.key)
    seed = int(config["seed"])
    pca_key = key_of("pca", key, dim, seed) if dim else None
    folder = cache_dir(config)
    reduced = os.path.join(folder, f"pca-{pca_key}.npz") if dim else None
    raw = os.path.join(folder, f"llm-table-{key}.npz")
    return TableFiles(prompts, scft, key, raw, pca_key, reduced, dim, seed)


def _raw_table(config, files: TableFiles, attributes: dict, show_progress: bool) -> ItemTable | None:
    """The un-reduced table: from its file, or embedded now (after SCFT when it is on).

    With several processes each rank embeds every world-size-th item and rank 0 gathers, saves and
    returns the table; the other ranks return None.
    """
    if agree(os.path.isfile(files.raw)):
        if not is_main():
            return None
        logger.info("LLM item table: reusing %s", files.raw)
        return ItemTable.load(files.raw, files.key)
    tokens = list(files.prompts)
    adapter_dir = None
    if files.scft is not None:
        adapter_dir = run_scft(config, tokens, show_progress, attributes).adapter_dir
    # Each rank resumes its own share of the items.
    own = f".rank{rank()}of{world_size()}" if is_distributed() else ""
    partial = files.raw.replace(".npz", f".partial{own}.npz")
    logger.info("LLM item table: building %s", files.raw)
    share = tokens[rank() :: world_size()]
    vectors = export_item_vectors(
        config, {t: files.prompts[t] for t in share}, partial, adapter_dir, show_progress and is_main()
    )
    shares = gather_to_main(vectors)
    if not is_main():
        _remove(partial)
        return None
    vectors = _interleave(shares, len(tokens))
    table = ItemTable(tokens, vectors)
    settings = TableSettings.from_config(config)
    inputs = {
        "llm_path": resolve_llm_path(settings.llm_path),
        "llm_fingerprint": llm_fingerprint(settings.llm_path),
        "llm_dtype": dtype_name(llm_device_and_dtype(config)[1]),
        "scft_key": files.scft.key if files.scft else None,
        "prompts_key": key_of(sorted(files.prompts.items())),
        "llm_pooling": settings.pooling,
        "llm_max_length": int(settings.max_length),
        # What adding items checks a new .item file against (not in the key: the prompts are).
        "prompt_fields": prompt_fields(config),
    }
    table.save(files.raw, files.key, kind="llm_table", inputs=inputs)
    _remove(partial)
    logger.info("LLM item table: saved %s", files.raw)
    return table


def _interleave(shares: list[np.ndarray], n: int) -> np.ndarray:
    """Rank r's share holds items r, r + world, r + 2 world ...: back in item order."""
    vectors = np.empty((n, shares[0].shape[1]), dtype=shares[0].dtype)
    for r, share in enumerate(shares):
        vectors[r :: len(shares)] = share
    return vectors


def _remove(path: str) -> None:
    if os.path.isfile(path):
        os.remove(path)


def build_table(config, item_tokens: Sequence[str], dim: int, show_progress: bool = True) -> str:
    """Build what is missing of the table of ``item_tokens`` (SCFT, export, PCA); its file's path.

    The global RNG is left as it was (:func:`isolated_rng`): cold or warm, what runs next starts alike.
    Under torchrun every rank calls this: the LLM work is shared, rank 0 writes the files.
    """
    attributes = dataset_attributes(config, item_tokens)  # read once: the prompts and SCFT's views
    files = table_files(config, item_tokens, dim, attributes)
    built = agree(_built(files))  # only read: no lock file, so a read-only saved/ serves a re-run
    if built:
        logger.info("LLM item table: reusing %s", built)
        return built
    _check_pca_size(config, files)  # before SCFT and the LLM run over every item, not after
    with artifact_lock(files.raw), isolated_rng():
        table = _raw_table(config, files, attributes, show_progress)
    path = _reduced(files, table) if is_main() else None
    barrier()  # the other ranks read the file rank 0 has just written
    return agree(path)


def llm_width(llm_path: str | None) -> int | None:
    """The LLM's hidden size (the pooled vectors' size) from its config.json or GGUF header; None
    when it does not say."""
    path = resolve_llm_path(llm_path)
    if os.path.isdir(path):
        try:
            with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
                settings = json.load(handle)
        except (OSError, ValueError):  # loading the model reports a bad config.json properly
            return None
        if not isinstance(settings, dict):
            return None
        settings = settings.get("text_config", settings) if "hidden_size" not in settings else settings
        sizes = [settings.get(key) for key in ("hidden_size", "n_embd", "d_model")]
        return next((size for size in sizes if isinstance(size, int)), None)
    try:
        from gguf import GGUFReader

        fields = GGUFReader(path).fields
        arch = fields["general.architecture"]
        name = bytes(arch.parts[arch.data[0]]).decode()
        width = fields[f"{name}.embedding_length"]
        return int(width.parts[width.data[0]][0])
    except Exception:  # a check ahead of time only: loading the model reports a bad file properly
        return None


def _check_pca_size(config, files: TableFiles) -> None:
    """A PCA size the table cannot have, refused before the LLM runs (``reduce_pca`` would, after)."""
    if not files.reduced:
        return
    items, llm_path = len(files.prompts), TableSettings.from_config(config).llm_path
    # A GGUF header takes seconds to parse: read it only when the item count alone does not settle it.
    if files.dim <= items and not os.path.isdir(resolve_llm_path(llm_path)):
        return
    width = llm_width(llm_path)
    if files.dim != width:  # at the LLM's own size the table is used without PCA
        check_pca_dim(files.dim, items, width)


def _built(files: TableFiles) -> str | None:
    """The finished table file of ``files`` (PCA'd, or raw when it already has the size), or None."""
    if files.reduced and os.path.isfile(files.reduced):
        return files.reduced
    record = read_record(files.raw) if os.path.isfile(files.raw) else None
    if record is not None and (not files.reduced or record.get("dim") == files.dim):
        return files.raw
    return None


def _reduced(files: TableFiles, table: ItemTable) -> str:
    """The PCA'd table's file (made now when missing), or the raw one when no reduction is asked for."""
    if not files.reduced or files.dim == table.dim:
        return files.raw
    with artifact_lock(files.reduced):
        if os.path.isfile(files.reduced):  # another run made it while this one waited
            return files.reduced
        logger.info("LLM item table: PCA to %d dimensions into %s", files.dim, files.reduced)
        reduced = reduce_pca(table, files.dim, files.seed)
        inputs = {"table_key": files.key, "llm_pca_dim": files.dim, "seed": files.seed}
        reduced.save(files.reduced, files.pca_key, kind="pca_table", inputs=inputs)
    return files.reduced


def table_file(config, item_tokens: Sequence[str], dim: int) -> tuple[str, str]:
    """``(path, key)`` of the table a model of ``config`` loads: ``llmemb_table_file`` (its recorded key,
    else its SHA-256), or the table stage's file for these settings. Runs no LLM.

    A missing table is a :class:`MissingTableError` naming the command that builds it.
    """
    explicit = TableSettings.from_config(config).table_file
    if explicit:
        if not os.path.isfile(explicit):
            raise MissingTableError(f"llmemb_table_file: {explicit} not found; give a table .npz that exists")
        record = read_record(explicit)
        return explicit, record["key"] if record else file_sha256(explicit)
    files = table_files(config, item_tokens, dim)
    if files.reduced and os.path.isfile(files.reduced):
        return files.reduced, files.pca_key
    record = read_record(files.raw) if os.path.isfile(files.raw) else None
    if record is not None and (not files.reduced or record.get("dim") == dim):
        return files.raw, files.key
    raise MissingTableError(
        f"LLM item table {files.reduced or files.raw} not found for these settings; build it first with: python"
        f" run_recbole_llmemb.py --stage=table --model={config['model']} --dataset={config['dataset']}"
        " (with the same settings), or set llmemb_table_file"
    )


def load_table(config, item_tokens: Sequence[str], dim: int) -> ItemTable:
    """The table a model of ``config`` uses (:func:`table_file`), checked against its record."""
    path, key = table_file(config, item_tokens, dim)
    explicit = bool(TableSettings.from_config(config).table_file)
    return ItemTable.load(path, None if explicit else key, require_record=not explicit)
