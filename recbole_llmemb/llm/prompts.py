"""Item prompts built from a dataset's ``.item`` atomic file (method page, Stage 1)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

from ..config import config_get
from ..data.atomic_files import AtomicFile
from ..settings import PromptSettings

logger = logging.getLogger(__name__)

_warned: set[tuple[str, int, int]] = set()


class PromptTemplate(PromptSettings):
    """How one dataset's attributes become text: ``<instruction><name> is <value>; ...``
    (``PromptTemplate.from_config(config)`` reads the ``prompt_*`` settings)."""

    def attribute_text(self, name: str, value: str) -> str:
        """Readable value: list tokens joined by ', ', ';' escaped, capped in length."""
        value = " ".join(value.split())
        if name in self.list_fields:
            value = ", ".join(value.split(" "))
        # ';' separates attributes in the prompt, so it must not appear inside a value.
        value = value.replace(";", ",")
        if self.max_value_chars and len(value) > self.max_value_chars:
            value = value[: self.max_value_chars].rstrip()
        return value

    def attributes(self, row: Mapping[str, str], columns: Sequence[str]) -> list[tuple[str, str]]:
        """``(display name, value)`` pairs of the row's non-empty prompt fields, in order."""
        pairs = []
        for name in self.fields if self.fields is not None else columns:
            raw = row.get(name, "")
            if raw is None or not str(raw).strip():
                continue
            pairs.append((self.field_names.get(name, name), self.attribute_text(name, str(raw))))
        return pairs

    def render(self, pairs: Iterable[tuple[str, str]]) -> str:
        """The prompt text for a list of attributes."""
        return self.instruction + "; ".join(f"{name} is {value}" for name, value in pairs)


def _item_file(path: str, field_separator: str) -> AtomicFile:
    return AtomicFile(path, field_separator, what=".item file")


def read_item_file(path: str, field_separator: str = "\t") -> tuple[str, list[str], dict]:
    """Read a RecBole ``.item`` file as text: ``(id column, other columns, {token: row})``.

    RecBole's loader splits ``token_seq`` text into word ids and drops the text, so prompts
    read the raw file.
    """
    items = _item_file(path, field_separator)
    names = items.header.names
    rows, first_line = {}, {}
    for line_no, values in items.rows():
        token = values[0]
        if token in rows:
            raise ValueError(
                f"{path}, line {line_no}: item '{token}' again (first on line {first_line[token]});"
                " keep one row per item"
            )
        rows[token], first_line[token] = dict(zip(names, values, strict=True)), line_no
    return names[0], names[1:], rows


def build_item_attributes(
    item_tokens: Sequence[str],
    item_file: str,
    template: PromptTemplate,
    field_separator: str = "\t",
    item_id_field: str = "item_id",
) -> dict[str, list[tuple[str, str]]]:
    """``(name, value)`` attribute pairs per item token; items with no text get their id, logged."""
    wanted = ", ".join(template.fields) if template.fields is not None else "every column but the id"
    if not os.path.isfile(item_file):
        raise FileNotFoundError(
            f"{item_file} not found: the LLM prompts are built from it; give it an '{item_id_field}' column"
            f" and the item text ({wanted}), tab-separated with a 'field:type' header"
        )
    id_field, columns, rows = read_item_file(item_file, field_separator)
    if id_field != item_id_field:
        raise ValueError(
            f"{item_file}: first column is '{id_field}', not ITEM_ID_FIELD '{item_id_field}'; put the item"
            " ids first, or set ITEM_ID_FIELD"
        )
    if not rows:
        raise ValueError(
            f"{item_file}: no item rows under the header; the prompts need the item text ({wanted})"
        )
    if template.fields is not None:
        unknown = [name for name in template.fields if name not in columns]
        if unknown:
            raise ValueError(
                f"prompt_fields: {unknown} not in {item_file} (columns: {columns}); "
                "fix prompt_fields in the dataset YAML"
            )
    attributes = {}
    absent = empty = 0
    for token in item_tokens:
        pairs = template.attributes(rows.get(token, {}), columns)
        if not pairs:
            absent, empty = (absent + 1, empty) if token not in rows else (absent, empty + 1)
            pairs = [("item id", token)]
        attributes[token] = pairs
    if (absent or empty) and (item_file, absent, empty) not in _warned:
        _warned.add((item_file, absent, empty))  # the stages read the same file several times: one warning
        logger.warning(
            "%d of %d items have no row in %s and %d only empty text fields: their prompts hold the item id only",
            absent,
            len(item_tokens),
            item_file,
            empty,
        )
    return attributes


def build_item_prompts(
    item_tokens: Sequence[str],
    item_file: str,
    template: PromptTemplate,
    field_separator: str = "\t",
    item_id_field: str = "item_id",
) -> dict[str, str]:
    """One prompt per item token, all attributes in file order (see ``build_item_attributes``)."""
    attributes = build_item_attributes(item_tokens, item_file, template, field_separator, item_id_field)
    return render_prompts(attributes, template)


def render_prompts(attributes: dict[str, list[tuple[str, str]]], template: PromptTemplate) -> dict[str, str]:
    """One prompt per item from its attribute pairs (all of them, in file order)."""
    return {token: template.render(pairs) for token, pairs in attributes.items()}


def item_file_path(config) -> str:
    return os.path.join(config["data_path"], f"{config['dataset']}.item")


def prompt_fields(config) -> list[str]:
    """The ``.item`` columns the dataset's prompts are built from, in prompt order: ``prompt_fields``,
    else every column of the dataset's ``.item`` file but the id (its header is read)."""
    fields = PromptSettings.from_config(config).fields
    if fields is not None:
        return list(fields)
    return _item_file(item_file_path(config), config_get(config, "field_separator", "\t")).header.names[1:]


def dataset_attributes(config, item_tokens: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Attribute pairs of ``item_tokens`` from the dataset's ``.item`` file and ``prompt_*`` settings."""
    return build_item_attributes(
        item_tokens,
        item_file_path(config),
        PromptTemplate.from_config(config),
        field_separator=config_get(config, "field_separator", "\t"),
        item_id_field=config_get(config, "ITEM_ID_FIELD", "item_id"),
    )
