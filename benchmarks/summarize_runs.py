"""Print one markdown row per run folder: overall and tail HR@10 / NDCG@10 under both protocols.

python benchmarks/summarize_runs.py results/levers/beauty-* [--dataset=amazon-beauty --model=SASRec]

``--mean``: one row per model over all the folders (runs of one setting with different seeds):
mean +- sample standard deviation, and the number of runs.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import numpy as np

METRICS = ("hit@10", "ndcg@10", "tail_hit@10", "tail_ndcg@10")
HEADER = (
    "| run | full HR@10 | full NDCG@10 | full tail HR@10 | full tail NDCG@10 | uni100 HR@10 | uni100 NDCG@10"
    " | uni100 tail HR@10 | uni100 tail NDCG@10 | LLMEmb train s |"
)


def read_run(folder: str, dataset: str, model: str) -> tuple[dict[str, list[float]], float | None]:
    """Per model row of the folder's reports: the 8 numbers (full, then uni100); LLMEmb seconds."""
    cells: dict[str, list[float]] = {}
    seconds = None
    for protocol in ("full", "uni100"):
        # Reports are named by their run's key: the folder's newest one of this dataset and model.
        paths = glob.glob(os.path.join(folder, f"{dataset}-{model}-*-{protocol}.json"))
        if not paths:
            return {}, None
        path = max(paths, key=os.path.getmtime)
        report = json.load(open(path, encoding="utf-8"))
        for row in report["rows"]:
            cells.setdefault(row["model"], []).extend(float(row[k]) for k in METRICS)
        seconds = report["meta"].get("llmemb_s")
    return cells, seconds


def rows(folder: str, dataset: str, model: str) -> list[str]:
    cells, seconds = read_run(folder, dataset, model)
    out = []
    for name, values in cells.items():
        # The plain row is shared by the comparisons of one seed (printed once); a plain-only run is named.
        shared = name == model and len(cells) > 1
        label = name if shared else f"{name} [{os.path.basename(folder)}]"
        time = f"{seconds:.0f}" if name != model and seconds else ""
        out.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {time} |")
    return out


def mean_std_cells(values: list[list[float]]) -> list[str]:
    """``mean ± sample std`` per column of the runs' numbers (std 0 for one run)."""
    table = np.array(values)
    std = table.std(axis=0, ddof=1) if len(table) > 1 else np.zeros(table.shape[1])
    return [f"{m:.4f} ± {s:.4f}" for m, s in zip(table.mean(axis=0), std, strict=True)]


def mean_rows(folders: list[str], dataset: str, model: str) -> list[str]:
    runs: dict[str, list[list[float]]] = {}
    for folder in folders:
        for name, values in read_run(folder, dataset, model)[0].items():
            runs.setdefault(name, []).append(values)
    out = []
    for name, values in runs.items():
        out.append(f"| {name} (n={len(values)}) | {' | '.join(mean_std_cells(values))} | |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--mean", action="store_true", help="one mean +- std row per model over the folders")
    args = parser.parse_args()
    folders = [folder for pattern in args.folders for folder in sorted(glob.glob(pattern))]
    print(HEADER)
    print("|---" * 10 + "|")
    if args.mean:
        print("\n".join(mean_rows(folders, args.dataset, args.model)))
        return
    seen = set()
    for folder in folders:
        for line in rows(folder, args.dataset, args.model):
            if line not in seen:
                seen.add(line)
                print(line)


if __name__ == "__main__":
    main()
