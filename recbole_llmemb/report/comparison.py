"""The comparison report: markdown and CSV tables, JSON, and the two plots."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

from ..artifacts.atomic_write import atomic_write
from .plots import plot_group_analysis, plot_tsne

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


def comparison_rows(results: Sequence, protocol: str, k: int = 10) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows; every row after the first shows its change vs the first."""
    base = results[0].test_results[protocol]
    columns = report_columns(base, k)
    rows = []
    for result in results:
        cells = [result.model]
        for _, key in columns:
            value = result.test_results[protocol].get(key, float("nan"))
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
    """Per test protocol P: ``<stem>-P.md``, ``.csv``, ``.json`` and ``-P-groups.png``; and one
    ``<stem>-tsne.png``. Returns the paths, the validation protocol's files first."""
    paths = []
    for protocol in results[0].test_results:
        base = f"{stem}-{protocol}"
        header, rows = comparison_rows(results, protocol)
        first = results[0].test_results[protocol]
        facts = "\n".join(f"- {key}: {value}" for key, value in {"test protocol": protocol, **meta}.items())
        facts += (
            f"\n- test users: tail {int(first.get('tail_users', 0))}, head {int(first.get('head_users', 0))}"
        )
        write_atomic(f"{base}.md", markdown_table(header, rows) + "\n" + facts + "\n")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        keys = sorted({k for r in results for k in r.test_results[protocol]})
        writer.writerow(["model", *keys])
        for r in results:
            writer.writerow([r.model, *(r.test_results[protocol].get(k, "") for k in keys)])
        write_atomic(f"{base}.csv", buffer.getvalue())
        payload = {
            "rows": [{"model": r.model, **r.test_results[protocol]} for r in results],
            "meta": {"test protocol": protocol, **meta},
        }
        write_atomic(f"{base}.json", json.dumps(payload, indent=2, default=str) + "\n")
        plot_group_analysis(
            f"{base}-groups.png", results, protocol, title=f"{meta.get('dataset', '')} ({protocol})"
        )
        paths += [f"{base}.md", f"{base}.csv", f"{base}.json", f"{base}-groups.png"]
    # The first row (the plain backbone) beside the last (LLMEmb); one table when there is one row.
    tables = [results[0], results[-1]] if len(results) > 1 else list(results)
    plot_tsne(f"{stem}-tsne.png", tables, seed=int(meta.get("seed", 0) or 0))
    return [*paths, f"{stem}-tsne.png"]
