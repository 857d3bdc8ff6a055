"""The comparison table of plain backbones and their LLMEmb versions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .atomic import atomic_write


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename."""
    with atomic_write(path) as handle:
        handle.write(text)


def comparison_table(rows: Sequence[tuple[str, Mapping[str, float]]], baseline: int = 0) -> str:
    """Markdown table, one row per model, metrics as columns, plus each row's change vs ``rows[baseline]``."""
    metrics = list(rows[baseline][1])
    header = "| model | " + " | ".join(metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 1)]
    base = rows[baseline][1]
    for name, result in rows:
        cells = []
        for metric in metrics:
            value = float(result[metric])
            cell = f"{value:.4f}"
            if name != rows[baseline][0] and float(base[metric]) > 0:
                cell += f" ({100 * (value / float(base[metric]) - 1):+.1f}%)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(
    path_stem: str, rows: Sequence[tuple[str, Mapping[str, float]]], meta: Mapping[str, object]
) -> tuple[str, str]:
    """Write ``<stem>.md`` (table + run facts) and ``<stem>.json``; returns both paths."""
    table = comparison_table(rows)
    facts = "\n".join(f"- {key}: {value}" for key, value in meta.items())
    md_path, json_path = f"{path_stem}.md", f"{path_stem}.json"
    write_atomic(md_path, f"{table}\n{facts}\n")
    payload = {"rows": [{"model": n, **{k: float(v) for k, v in r.items()}} for n, r in rows], "meta": meta}
    write_atomic(json_path, json.dumps(payload, indent=2, default=str) + "\n")
    return md_path, json_path
