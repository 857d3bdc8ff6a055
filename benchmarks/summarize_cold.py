"""Print the cold-item table of RESULTS.md from cold-item reports: one row per method.

python benchmarks/summarize_cold.py results/cold/amazon-beauty-5-seed*

Each argument is a report (``<dataset>-<backbone>-cold-<key>.json``) or a run's results folder
(its newest such report). Several reports (runs of one split with different seeds): mean +-
sample standard deviation per cell, and the number of runs. Methods keep the first report's order.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

from summarize_runs import mean_std_cells

CELLS = (("full", "cold"), ("full", "warm"), ("uni100", "cold"), ("uni100", "warm"))
HEADER = (
    "| method | full, cold HR@10 / NDCG@10 | full, warm HR@10 / NDCG@10"
    " | uni100, cold HR@10 / NDCG@10 | uni100, warm HR@10 / NDCG@10 |"
)


def numbers(row: dict) -> list[float]:
    """The 8 numbers of one method's row: HR@10 and NDCG@10 for each of ``CELLS``."""
    return [
        float(row[protocol].get(f"{group}_{metric}@10", 0.0))
        for protocol, group in CELLS
        for metric in ("hit", "ndcg")
    ]


def table(reports: list[dict]) -> list[str]:
    """Markdown lines: header, rule, one row per method found in any report."""
    runs: dict[str, list[list[float]]] = {}
    for report in reports:
        for method, row in report["rows"].items():
            runs.setdefault(method, []).append(numbers(row))
    lines = [HEADER, "|---" * 5 + "|"]
    for method, values in runs.items():
        if len(values) == 1:
            cells, label = [f"{v:.4f}" for v in values[0]], method
        else:
            cells, label = mean_std_cells(values), f"{method} (n={len(values)})"
        pairs = [f"{cells[i]} / {cells[i + 1]}" for i in range(0, len(cells), 2)]
        lines.append(f"| {label} | " + " | ".join(pairs) + " |")
    return lines


def report_paths(patterns: list[str]) -> list[str]:
    """The reports named by ``patterns``: files as given, a folder by its newest cold report."""
    paths = []
    for path in (path for pattern in patterns for path in sorted(glob.glob(pattern))):
        if os.path.isdir(path):
            found = glob.glob(os.path.join(path, "*-cold-*.json"))
            # A folder re-run after a change holds older reports too: the run's report is the newest.
            paths += [max(found, key=os.path.getmtime)] if found else []
        else:
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="cold-item reports or results folders (globs allowed)")
    args = parser.parse_args()
    paths = report_paths(args.reports)
    if not paths:
        raise SystemExit(
            f"summarize_cold.py: no cold-item report in {args.reports}; give -cold-*.json files or their folders"
        )
    reports = [json.load(open(path, encoding="utf-8")) for path in paths]
    print("\n".join(table(reports)))


if __name__ == "__main__":
    main()
