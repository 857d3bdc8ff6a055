"""Command line of ``run_recbole_llmemb.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .data import MissingDatasetError
from .utils import BACKBONES

DESCRIPTION = """\
LLMEmb on RecBole: LLM item embeddings for sequential recommenders.

Stages, run in order; each reuses its cache under <checkpoint_dir>/llmemb/<dataset>/:
  scft      build an item prompt from the dataset's .item file; LoRA-fine-tune the LLM
            contrastively on two attribute-dropped views per item (scft_* settings; default
            LLM: bundled SmolLM2-135M-Instruct, or --llm_path=DIR|FILE.gguf); save the peft
            adapter; then the table stage with the fine-tuned LLM.
  table     embed every item with the LLM (mean of final-layer hidden states; fine-tuned
            when scft is on, the default; --scft=False for the untuned LLM), reduce with PCA
            (--llm_pca_dim).
  pretrain  train and test the plain RecBole backbone (--model) only, without the LLM: the
            baseline row, and the item table that the alignment loss targets.
  all       table, pretrain, then RAT: train LLMEmb-<model> (adapter(frozen LLM table) as the
            item embedding, loss = backbone loss + align_weight * alignment), test it, and
            write the report to <results_dir>/<dataset>-<model>-<protocol>.md/.csv/.json
            with -groups.png (HR@10 per popularity group) and -tsne.png (item tables).

Every evaluation reports overall, tail and head metrics and five popularity groups
(popularity counted on the training split). --eval_negatives=100 (or eval_args mode uni100)
switches to the paper's protocol: 100 fixed sampled negatives per user.

Any RecBole or recbole-llmemb setting can be given as --key=value (for example
--epochs=5 --align_weight=0.1 --eval_args="{'mode':'uni100'}"); defaults live in properties/.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_recbole_llmemb.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default="SASRec", choices=sorted(BACKBONES), help="backbone (default SASRec)"
    )
    parser.add_argument(
        "--dataset", default="ml-100k", help="dataset name (default ml-100k, shipped with RecBole)"
    )
    parser.add_argument(
        "--config_files", default=None, help="extra RecBole YAML files, space- or comma-separated"
    )
    parser.add_argument(
        "--baselines",
        default="",
        help="more plain RecBole models for the report, comma-separated (e.g. SASRec,GRU4Rec,BERT4Rec)",
    )
    parser.add_argument(
        "--stage",
        default="all",
        choices=["scft", "table", "pretrain", "all"],
        help="last stage to run (pretrain: the plain backbone alone)",
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Our options; every other argument must be a RecBole-style ``--key=value``."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    bad = [a for a in rest if not (a.startswith("--") and "=" in a)]
    if bad:
        parser.error(f"unrecognised argument {bad[0]!r}: settings are written --key=value")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from .pipeline import run_llmemb

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    files = args.config_files.replace(",", " ").split() if args.config_files else None
    try:
        baselines = [name for name in args.baselines.split(",") if name]
        outcome = run_llmemb(
            args.model, args.dataset, config_file_list=files, stage=args.stage, baselines=baselines
        )
    except (MissingDatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in outcome.get("results", []):
        if path.endswith(".md"):
            with open(path, encoding="utf-8") as handle:
                print(handle.read())
    return 0
