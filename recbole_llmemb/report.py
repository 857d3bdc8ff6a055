"""The comparison report: markdown and CSV tables, JSON, and the two plots."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

from .atomic import atomic_write

SPLITS = (("overall", ""), ("tail", "tail_"), ("head", "head_"))


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename."""
    with atomic_write(path) as handle:
        handle.write(text)


def report_columns(result: Mapping[str, float], k: int = 10) -> list[tuple[str, str]]:
    """``(column title, result key)`` for HR@k and NDCG@k overall, tail and head, as available."""
    columns = []
    for split, prefix in SPLITS:
        for metric, title in (("hit", "HR"), ("ndcg", "NDCG")):
            key = f"{prefix}{metric}@{k}"
            if key in result:
                columns.append((f"{split} {title}@{k}", key))
    return columns


def comparison_rows(results: Sequence, k: int = 10) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows; every row after the first shows its change vs the first."""
    columns = report_columns(results[0].test_result, k)
    base = results[0].test_result
    rows = []
    for result in results:
        cells = [result.model]
        for _, key in columns:
            value = result.test_result.get(key, float("nan"))
            cell = f"{value:.4f}"
            if result is not results[0] and base.get(key, 0) > 0:
                cell += f" ({100 * (value / base[key] - 1):+.1f}%)"
            cells.append(cell)
        rows.append(cells)
    return ["model"] + [title for title, _ in columns], rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_comparison(stem: str, results: Sequence, meta: Mapping[str, object]) -> list[str]:
    """Write ``<stem>.md``, ``.csv``, ``.json``, ``-groups.png`` and ``-tsne.png``; return the paths."""
    from .plots import plot_group_analysis, plot_tsne

    header, rows = comparison_rows(results)
    counts = {g: int(results[0].test_result.get(f"{g}_users", 0)) for g in ("tail", "head")}
    facts = "\n".join(f"- {key}: {value}" for key, value in meta.items())
    facts += f"\n- test users: tail {counts['tail']}, head {counts['head']}"
    paths = [f"{stem}.md", f"{stem}.csv", f"{stem}.json", f"{stem}-groups.png", f"{stem}-tsne.png"]
    write_atomic(paths[0], markdown_table(header, rows) + "\n" + facts + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = sorted({k for r in results for k in r.test_result})
    writer.writerow(["model", *keys])
    for r in results:
        writer.writerow([r.model, *(r.test_result.get(k, "") for k in keys)])
    write_atomic(paths[1], buffer.getvalue())
    payload = {"rows": [{"model": r.model, **r.test_result} for r in results], "meta": dict(meta)}
    write_atomic(paths[2], json.dumps(payload, indent=2, default=str) + "\n")
    plot_group_analysis(paths[3], results, title=f"{meta.get('dataset', '')} ({meta.get('protocol', '')})")
    plot_tsne(paths[4], [results[0], results[-1]], seed=int(meta.get("seed", 0) or 0))
    return paths
