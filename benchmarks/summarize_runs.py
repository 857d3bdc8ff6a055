"""Print one markdown row per run folder: overall and tail HR@10 / NDCG@10 under both protocols.

python benchmarks/summarize_runs.py results/levers/beauty-* [--dataset=amazon-beauty --model=SASRec]
"""

from __future__ import annotations

import argparse
import glob
import json
import os


def rows(folder: str, dataset: str, model: str) -> list[str]:
    out = []
    cells = {}
    for protocol in ("full", "uni100"):
        path = os.path.join(folder, f"{dataset}-{model}-{protocol}.json")
        if not os.path.isfile(path):
            return []
        report = json.load(open(path, encoding="utf-8"))
        for row in report["rows"]:
            cells.setdefault(row["model"], []).extend(
                f"{row[k]:.4f}" for k in ("hit@10", "ndcg@10", "tail_hit@10", "tail_ndcg@10")
            )
        seconds = report["meta"].get("llmemb_s")
    for name, values in cells.items():
        label = name if name == model else f"{name} [{os.path.basename(folder)}]"
        time = f"{seconds:.0f}" if name != model and seconds else ""
        out.append(f"| {label} | " + " | ".join(values) + f" | {time} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--model", default="SASRec")
    args = parser.parse_args()
    print(
        "| run | full HR@10 | full NDCG@10 | full tail HR@10 | full tail NDCG@10 | uni100 HR@10 | uni100 NDCG@10"
        " | uni100 tail HR@10 | uni100 tail NDCG@10 | LLMEmb train s |"
    )
    print("|---" * 10 + "|")
    seen = set()
    for pattern in args.folders:
        for folder in sorted(glob.glob(pattern)):
            for line in rows(folder, args.dataset, args.model):
                if line not in seen:
                    seen.add(line)
                    print(line)


if __name__ == "__main__":
    main()
