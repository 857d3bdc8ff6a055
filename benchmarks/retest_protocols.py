"""Test a trained checkpoint again with the user's history kept and excluded from the full ranking.

No training: the checkpoint is loaded under its recorded key and tested as the pipeline tests,
once with ``eval_exclude_history: True`` and once with ``False`` (uni100 is the same under both):

    python benchmarks/retest_protocols.py --model=SASRec --dataset=amazon-beauty \\
        --checkpoint=saved/llmemb/amazon-beauty/pretrained-SASRec-<key>.pth --config_files=converged --seed=2020

Further ``--key=value`` settings must be those the checkpoint was trained with.
"""

from __future__ import annotations

import argparse

from recbole_llmemb.artifacts.records import read_record
from recbole_llmemb.data import load_data
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.trainer.cached_training import train_and_test

METRICS = ("hit@1", "hit@10", "ndcg@10", "tail_hit@10", "head_ndcg@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--config_files", default=None)
    args, rest = parser.parse_known_args()
    settings = dict(arg[2:].split("=", 1) for arg in rest)
    settings.update(metrics="['Hit','NDCG']", topk="[1,10]", state="WARNING", show_progress="False")
    files = args.config_files.split(",") if args.config_files else None
    key = read_record(args.checkpoint)["key"]
    print(f"| {args.model} | history | protocol | " + " | ".join(METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for exclude in (True, False):
        config = make_config(args.model, args.dataset, files, {**settings, "eval_exclude_history": str(exclude)})
        result = train_and_test(config, config.model_class, load_data(config), args.checkpoint, key, train=False)
        for protocol, metrics in result.test_results.items():
            values = " | ".join(f"{metrics[m]:.4f}" for m in METRICS)
            print(f"| | {'excluded' if exclude else 'kept'} | {protocol} | {values} |")


if __name__ == "__main__":
    main()
