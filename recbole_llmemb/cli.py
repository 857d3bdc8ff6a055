"""Command line of ``run_recbole_llmemb.py`` (and ``python -m recbole_llmemb``): argparse, then quick_start.

This is the only place that reads ``sys.argv``: every ``--key=value`` becomes ``config_dict``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .cold_start import run_cold_items
from .model.add_items import add_items
from .model.registry import BACKBONES, LLMEMB_MODELS
from .quick_start import STAGES, make_config, run
from .settings import ColdItemSettings

DESCRIPTION = """\
LLMEmb on RecBole: LLM item embeddings for sequential recommenders.

Stages, run in order up to --stage; each reuses its artifact under <checkpoint_dir>/llmemb/<dataset>/:
  scft      build an item prompt from the dataset's .item file; LoRA-fine-tune the LLM
            contrastively on two attribute-dropped views per item (scft_* settings; default
            LLM: bundled SmolLM2-135M-Instruct, or --llm_path=DIR|FILE.gguf); save the peft adapter.
  table     embed every item with the LLM (mean of final-layer hidden states; fine-tuned by
            SCFT when scft is on, the default; --scft=False for the untuned LLM), reduce with
            PCA (--llm_pca_dim). Models only load this file.
  pretrain  train and test the plain RecBole backbone only, without the LLM: the baseline
            row, and the item table that the alignment loss targets. --stage=pretrain writes
            their report (with --baselines) to <results_dir>/<dataset>-<model>-<key>-<protocol>.md.
  add_items new items for a trained LLMEmb model, from their text, without retraining:
            --stage=add_items --checkpoint=<LLMEmb .pth> --items=<new .item file> [--out=<file>].
  all       table, pretrain, then RAT: train LLMEmb-<model> (adapter(frozen LLM table) as the
            item embedding, loss = backbone loss + align_weight * alignment), test it, and
            write the report to <results_dir>/<dataset>-<model>-<key>-<protocol>.md/.csv/.json
            with -groups.png (HR@10 per popularity group) and -tsne.png (item tables).

--model=SASRec|GRU4Rec|BERT4Rec runs the comparison (plain backbone vs LLMEmb);
--model=LLMEmbSASRec|LLMEmbGRU4Rec|LLMEmbBERT4Rec trains and tests LLMEmb alone, aligned to
--pretrained_srs_file=<a plain checkpoint> (else the pipeline's cached plain backbone).

Every evaluation reports overall, tail and head metrics and five popularity groups
(popularity counted on the training split). --eval_negatives=100 (or eval_args mode uni100)
switches to the paper's protocol: 100 fixed sampled negatives per user.

Any RecBole or recbole-llmemb setting can be given as --key=value (for example
--epochs=5 --align_weight=0.1 --eval_args="{'mode':'uni100'}"); defaults live in the package's
properties/ folder; --config_files also takes a bundled variant by name (llm2x, said,
one-negative, paper-adapter).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_recbole_llmemb.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        default="SASRec",
        choices=sorted(BACKBONES) + sorted(LLMEMB_MODELS),
        help="backbone for the comparison, or an LLMEmb model alone (default SASRec)",
    )
    parser.add_argument(
        "--dataset", default="ml-100k", help="dataset name (default ml-100k, shipped with RecBole)"
    )
    parser.add_argument(
        "--config_files", default=None, help="extra RecBole YAML files or variants, space- or comma-separated"
    )
    parser.add_argument(
        "--baselines",
        default="",
        help="more plain RecBole models for the report, comma-separated (e.g. SASRec,GRU4Rec,BERT4Rec)",
    )
    parser.add_argument("--checkpoint", default=None, help="--stage=add_items: the trained LLMEmb model file")
    parser.add_argument("--items", default=None, help="--stage=add_items: the .item file of the new items")
    parser.add_argument("--out", default=None, help="--stage=add_items: the extended model's file")
    parser.add_argument(
        "--stage",
        default="all",
        choices=[*STAGES, "add_items"],
        help="last stage to run (pretrain: the plain backbone alone); add_items: new items for a trained model",
    )
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    """Our options, and every other argument as a RecBole setting ``{key: value text}``.

    RecBole's Config turns the texts into values as it does for its own command line.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    settings = {}
    for argument in rest:
        key, sep, value = argument[2:].partition("=")
        if not (argument.startswith("--") and sep and key):
            parser.error(f"unrecognised argument {argument!r}: settings are written --key=value")
        settings[key] = value
    return args, settings


def main(argv: Sequence[str] | None = None) -> int:
    args, settings = parse_args(list(sys.argv[1:] if argv is None else argv))
    files = args.config_files.replace(",", " ").split() if args.config_files else None
    baselines = [name for name in args.baselines.split(",") if name]
    try:
        if args.stage == "add_items":
            if not (args.checkpoint and args.items):
                raise ValueError(
                    "--stage=add_items: give --checkpoint=<trained LLMEmb .pth> and --items=<new .item file>"
                )
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
            print(add_items(args.checkpoint, args.items, args.out))
            return 0
        if (
            args.stage == "all"
            and ColdItemSettings.from_config(make_config(args.model, args.dataset, files, settings)).requested
        ):
            outcome = run_cold_items(args.model, args.dataset, files, settings)
        else:
            outcome = run(args.model, args.dataset, files, settings, stage=args.stage, baselines=baselines)
    except (OSError, ValueError) as exc:  # one line, naming the file or option and what to do
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in outcome.get("results", []):
        if path.endswith(".md"):
            with open(path, encoding="utf-8") as handle:
                print(handle.read())
    return 0
