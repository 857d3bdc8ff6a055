"""The results folder's index: one row per report, and a ``latest`` link per dataset and model.

Reports are named by their run's key, so a run with other settings never overwrites one; the
index says which settings and checkpoints each holds.
"""

from __future__ import annotations

import glob
import json
import os

from ..artifacts.atomic_write import atomic_write
from ..artifacts.locks import artifact_lock

INDEX_NAME = "index.md"


def _index_rows(results_dir: str) -> list[str]:
    rows = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                report = json.load(handle)
            meta, table = report["meta"], report["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a report of this package
        if not isinstance(table, list):
            continue  # a cold-item report (rows per method): its .md stands alone in the folder
        ndcg = " → ".join(f"{row.get('ndcg@10', float('nan')):.4f}" for row in table)
        rows.append(
            f"| [{os.path.basename(path)[: -len('.json')]}]({os.path.basename(path)[: -len('.json')]}.md)"
            f" | {meta.get('dataset')} | {' / '.join(row['model'] for row in table)} | {meta.get('seed')}"
            f" | {meta.get('epochs')} | {ndcg} | {meta.get('llmemb checkpoint')} |"
        )
    return rows


def update_index(results_dir: str, stem: str, validation_report: str) -> str:
    """Rewrite ``<results_dir>/index.md`` from the reports there, and point ``<latest>.md`` (a link named
    after the dataset and model) at ``validation_report``; the index's path."""
    index = os.path.join(results_dir, INDEX_NAME)
    header = [
        "# Reports",
        "",
        "| report | dataset | models | seed | epochs | NDCG@10 | LLMEmb checkpoint |",
        "|---|---|---|---|---|---|---|",
    ]
    with artifact_lock(index):  # two runs finishing at once: each index holds both
        with atomic_write(index) as handle:
            handle.write("\n".join([*header, *_index_rows(results_dir)]) + "\n")
        latest = f"{latest_stem(stem)}.md"
        link = f"{latest}.tmp"
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.basename(validation_report), link)
        os.replace(link, latest)
    return index


def latest_stem(stem: str) -> str:
    """``<dataset>-<name>-latest`` for a run's stem ``<dataset>-<name>-<key>``."""
    return f"{stem.rsplit('-', 1)[0]}-latest"
