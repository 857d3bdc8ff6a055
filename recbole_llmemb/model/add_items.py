"""New items for a trained LLMEmb model, without retraining: an item's embedding is a function of its text.

Each new item's prompt goes through the LLM the table was built with (the SCFT adapter merged),
is pooled, projected by the table's saved PCA (never refitted), conditioned with the saved shift
and scale, and appended to the model's frozen table; the trained adapter then maps it like any
other row. The extended model scores the old items exactly as before. Everything needed lies
beside the checkpoint (its record, the table with its projection, the SCFT adapter): the
training data is not read.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch

from ..artifacts.atomic_write import atomic_write
from ..artifacts.fingerprints import file_sha256, key_of
from ..artifacts.records import ArtifactError, read_record, verified_record, write_record
from ..artifacts.safe_checkpoints import config_from_settings, settings_json
from ..compat import load_recbole_checkpoint
from ..config import LLMEmbConfig
from ..llm.item_table import ItemTable
from ..llm.loading import LLM_DTYPES, llm_device_and_dtype, llm_fingerprint, load_finetuned_llm, load_llm
from ..llm.prompts import PromptTemplate, build_item_attributes, read_item_file, render_prompts
from ..llm.table_export import embed_prompts, embedding_settings, require_finite
from ..settings import EmbeddingSettings, LLMEmbModelSettings, PromptSettings, TableSettings
from .id_view import init_scale
from .registry import LLMEMB_MODELS
from .variants import residual_from_table

logger = logging.getLogger(__name__)


class ItemsOnly:
    """The part of a RecBole dataset a sequential model's constructor reads: its item ids."""

    def __init__(self, item_field: str, tokens: list[str]):
        self.item_field = item_field
        self.field2id_token = {item_field: np.array(["[PAD]", *tokens])}

    def num(self, field: str) -> int:
        if field != self.item_field:
            raise KeyError(f"{field}: an extended model knows only its items")
        return len(self.field2id_token[field])


def _beside(checkpoint: str, path: str) -> str:
    """``path`` as recorded, or the file of that name beside ``checkpoint`` (a copied saved/ folder)."""
    local = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), os.path.basename(path))
    return path if os.path.exists(path) else local


def _model_prompt_fields(config, table_record: dict) -> list[str] | None:
    """The ``.item`` columns the model's prompts were built from, in prompt order: ``prompt_fields``,
    else those its table's record lists (None for a table written before records held them)."""
    fields = PromptSettings.from_config(config).fields
    if fields:
        return list(fields)
    recorded = table_record.get("inputs", {}).get("prompt_fields")
    return None if recorded is None else list(recorded)


def _new_items(config, items_file: str, old: list[str], fields: list[str] | None) -> dict[str, str]:
    """Prompts of the items of ``items_file``, from the model's prompt ``fields`` in the model's order;
    an id the model has already, or a prompt field the file lacks, is an error."""
    if not os.path.isfile(items_file):
        raise FileNotFoundError(f"--items: {items_file} does not exist; give the .item file of the new items")
    separator = config["field_separator"]
    _, columns, rows = read_item_file(items_file, separator)
    template = PromptTemplate.from_config(config)
    if fields is None:
        logger.warning(
            "%s: the model's table does not record which columns its prompts were built from;"
            " the prompts use every column of this file (%s)",
            items_file,
            ", ".join(columns),
        )
    else:
        missing = [name for name in fields if name not in columns]
        extra = [name for name in columns if name not in fields]
        if missing:
            also = f" and has columns {extra} the prompts never held" if extra else ""
            raise ValueError(
                f"{items_file}: no column {missing}{also}; the model's prompts were built from {fields}:"
                " give the new items these columns (a value may be empty)"
            )
        if extra:
            logger.warning(
                "%s: columns %s are not in the model's prompts (%s): ignored", items_file, extra, fields
            )
        template.fields = fields  # the model's order, whatever the file's
    taken = sorted(set(rows) & set(old))
    if taken:
        raise ValueError(
            f"{items_file}: {len(taken)} item ids the model already has (e.g. {', '.join(taken[:3])});"
            " give new items new ids"
        )
    attributes = build_item_attributes(list(rows), items_file, template, separator, config["ITEM_ID_FIELD"])
    return render_prompts(attributes, template)


def _llm_of_table(config, checkpoint: str, table_record: dict):
    """The LLM (with its SCFT adapter merged) that built the table, checked to be the same files."""
    inputs = table_record.get("inputs", {})
    llm_path = TableSettings.from_config(config).llm_path
    if inputs.get("llm_fingerprint") and llm_fingerprint(llm_path) != inputs["llm_fingerprint"]:
        raise ValueError(
            f"llm_path: {llm_path or 'the bundled LLM'} is not the LLM the table was built with"
            f" ({inputs.get('llm_path')}); give that model"
        )
    device, dtype = llm_device_and_dtype(config)
    # The precision the table was built in, not what `auto` resolves to on this machine.
    dtype = LLM_DTYPES.get(inputs.get("llm_dtype"), dtype)
    scft_key = inputs.get("scft_key")
    if not scft_key:
        return load_llm(llm_path, device, dtype)
    adapter = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), f"scft-{scft_key}", "adapter")
    if not os.path.isdir(adapter):
        raise FileNotFoundError(
            f"{adapter} not found: the SCFT adapter the table was built with; copy its scft-{scft_key}"
            " folder beside the checkpoint"
        )
    return load_finetuned_llm(llm_path, adapter, device, dtype)


def _table_of(checkpoint: str, record: dict) -> tuple[ItemTable, dict]:
    """The trained model's table, and the record of the raw LLM table it was made from (which names
    the LLM, its precision and SCFT run, and the prompt fields)."""
    table_path = _beside(checkpoint, record["inputs"]["table_file"])
    table_record = read_record(table_path) or {}
    table = ItemTable.load(table_path, require_record=False)
    if not table.projection:
        return table, table_record
    # The PCA table: its inputs name the raw table, whose record names the LLM.
    raw_key = table_record.get("inputs", {}).get("table_key")
    raw = os.path.join(os.path.dirname(table_path), f"llm-table-{raw_key}.npz")
    return table, read_record(raw) or {}


def _table_rows(
    config, checkpoint: str, table: ItemTable, raw_record: dict, prompts: dict[str, str], state: dict
) -> torch.Tensor:
    """The conditioned table rows of the new items, as the trained table's rows were made."""
    model, tokenizer = _llm_of_table(config, checkpoint, raw_record)
    vectors = embed_prompts(
        model,
        tokenizer,
        list(prompts.values()),
        show_progress=bool(config["show_progress"]),
        **embedding_settings(config),
    )
    require_finite(vectors, list(prompts))
    projected = torch.from_numpy(table.project(vectors) if table.projection else vectors)
    shift, scale = state["item_embedding.table_shift"], state["item_embedding.table_scale"]
    return (projected - shift) / scale


def _extended_state(state: dict, rows: torch.Tensor, config=None) -> dict:
    """``state`` with ``rows`` appended to the table, and the per-item parameters grown with them
    (the hybrid's residual: zero, or with ``item_id_residual_init: table`` its start from the row)."""
    state = dict(state)
    state["item_embedding.table"] = torch.cat(
        [state["item_embedding.table"], rows.to(state["item_embedding.table"])]
    )
    n_new = len(rows)
    if "item_embedding.id_residual" in state:  # the hybrid: a new item has no learned residual
        residual = state["item_embedding.id_residual"]
        grown = residual.new_zeros(n_new, residual.shape[1])
        if config is not None and EmbeddingSettings.from_config(config).id_residual_init == "table":
            grown = residual_from_table(rows, residual.shape[1], init_scale(config)).to(residual)
        state["item_embedding.id_residual"] = torch.cat([residual, grown])
    if "id_view.encoder.item_embedding.weight" in state:  # the ID view: a start from the text, or zero
        ids = state["id_view.encoder.item_embedding.weight"]
        grown = ids.new_zeros(n_new, ids.shape[1])
        if config is not None and LLMEmbModelSettings.from_config(config).id_view_init == "table":
            grown = residual_from_table(rows, ids.shape[1], init_scale(config)).to(ids)
        state["id_view.encoder.item_embedding.weight"] = torch.cat([ids, grown])
    if "output_bias" in state:  # BERT4Rec: a new item gets the mean bias of the trained ones
        bias = state["output_bias"]
        state["output_bias"] = torch.cat([bias, bias[1:].mean().expand(n_new)])
    return state


def add_items(checkpoint: str, items_file: str, out: str | None = None) -> str:
    """Extend the trained LLMEmb model ``checkpoint`` with the items of ``items_file``; the new file.

    Writes ``<out>`` (default ``<checkpoint>`` with ``+<n>items-<key>``): the model's state with
    the grown table, its config, ``item_tokens`` (internal id ``i`` is ``item_tokens[i - 1]``),
    with a record; and ``<out>.table.npz``, the table of old and new items. Load it with
    :func:`load_extended_model`.
    """
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f"--checkpoint: {checkpoint} does not exist; give a trained LLMEmb model's .pth file"
            " (<checkpoint_dir>/llmemb/<dataset>/LLMEmb<Model>-<key>.pth)"
        )
    if read_record(checkpoint) is None:
        raise ArtifactError(
            f"--checkpoint: {checkpoint} has no record ({checkpoint}.json) beside it; give an LLMEmb"
            " model's .pth file that training wrote, with its .json"
        )
    record = verified_record(checkpoint)
    if "item_tokens" not in record.get("inputs", {}):
        raise ArtifactError(
            f"{checkpoint}: not an LLMEmb checkpoint of this version (its record lists no items)"
        )
    saved = load_recbole_checkpoint(checkpoint, key=record["key"], option="--checkpoint")
    config, state, old = saved["config"], saved["state_dict"], record["inputs"]["item_tokens"]
    table, raw_record = _table_of(checkpoint, record)
    prompts = _new_items(config, items_file, old, _model_prompt_fields(config, raw_record))
    logger.info("Adding %d items from %s to %s (%d items)", len(prompts), items_file, checkpoint, len(old))
    rows = _table_rows(config, checkpoint, table, raw_record, prompts, state)
    tokens = [*old, *prompts]
    key = key_of("extended", record["key"], file_sha256(items_file))
    out = out or checkpoint.replace(".pth", f"+{len(prompts)}items-{key[:8]}.pth")
    extended = _extended_state(state, rows, config)
    # The table a model of these items is built from; its conditioned rows then come from the state.
    ItemTable(tokens, extended["item_embedding.table"][1:].numpy()).save(
        f"{out}.table.npz", key, kind="extended table"
    )
    config["llmemb_table_file"] = os.path.basename(f"{out}.table.npz")
    # Tensors, strings and the settings as JSON: no pickled object, so it loads weights-only too.
    payload = {"settings": settings_json(config), "state_dict": extended, "item_tokens": tokens}
    with atomic_write(out, "wb") as handle:
        torch.save(payload, handle)
    write_record(
        out, key, file_sha256(out), kind="extended LLMEmb model", checkpoint=checkpoint, added=list(prompts)
    )
    logger.info("Extended model written to %s", out)
    return out


def load_extended_model(path: str):
    """``(model, item_tokens)`` of an extended model file or a trained LLMEmb checkpoint, ready for
    full-sort prediction; needs no data, and runs no code from the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} does not exist; give add_items' output file or a trained LLMEmb model's .pth file"
        )
    record = verified_record(path)
    saved = load_recbole_checkpoint(path, key=record["key"])
    if "settings" in saved:  # an extended model: settings as JSON
        model_name = json.loads(saved["settings"]).get("model")
        if model_name not in LLMEMB_MODELS:
            raise ArtifactError(
                f"{path}: a model of '{model_name}', which is not an LLMEmb model known here; register_model"
                " its class first"
            )
        config = config_from_settings(saved["settings"], LLMEmbConfig, LLMEMB_MODELS[model_name])
    else:  # a trained checkpoint, or an extended model of an earlier version (a pickled Config)
        config = saved.get("config")
        if config is None or config["model"] not in LLMEMB_MODELS:
            name = None if config is None else config["model"]
            raise ArtifactError(
                f"{path}: a model of '{name}', not an LLMEmb model; give an LLMEmb model file"
            )
        config.model_class = LLMEMB_MODELS[config["model"]]
    tokens = saved.get("item_tokens") or record.get("inputs", {}).get("item_tokens")
    if not tokens:
        raise ArtifactError(f"{path}: not an LLMEmb model of this version (it lists no items)")
    # An extended model names its own table; a trained one the table its record lists.
    table = config["llmemb_table_file"] or record["inputs"]["table_file"]
    config["llmemb_table_file"] = _beside(path, table)
    model = config.model_class(config, ItemsOnly(config["ITEM_ID_FIELD"], tokens))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), tokens
