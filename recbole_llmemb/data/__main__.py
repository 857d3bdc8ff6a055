"""``python -m recbole_llmemb.data convert <name>`` and ``python -m recbole_llmemb.data stats <name>``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import yaml

from ..config import PROPERTIES_DIR
from ..settings import ConversionSettings, overall_defaults
from .convert import conversion_plan, convert_dataset
from .errors import MissingDatasetError
from .rawfiles import RawFileError
from .stats import format_statistics, read_statistics, recbole_statistics

DESCRIPTION = """\
convert: read the public raw files of a dataset (default folder dataset/<name>/raw/) and write the
  RecBole atomic files dataset/<name>/<name>.inter and .item, with the filters and item text of
  properties/dataset/<name>.yaml (convert_* keys; override them as --convert_key=value).
  Datasets: amazon-beauty, amazon-fashion, yelp, ml-1m (see docs/datasets.md).
stats: print users, items, interactions, density, sequence lengths and text coverage of the atomic
  files of dataset/<name>/ or of a folder; --recbole also loads them through RecBole.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmemb.data",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="raw files -> RecBole atomic files")
    convert.add_argument("name", help="dataset name, e.g. amazon-beauty")
    convert.add_argument("--raw_dir", help="folder of the raw files (default <out_dir>/raw)")
    convert.add_argument("--out_dir", help="folder for the atomic files (default dataset/<name>)")
    stats = commands.add_parser("stats", help="statistics of a dataset's atomic files")
    stats.add_argument("dataset", help="dataset name (folder dataset/<name>) or a folder")
    stats.add_argument("--recbole", action="store_true", help="also count as RecBole loads it")
    return parser


def dataset_settings(name: str, overrides: Sequence[str]) -> dict:
    """The ``convert_*`` defaults of ``properties/overall.yaml``, then ``properties/dataset/<name>.yaml``,
    then ``--convert_key=value`` overrides (YAML values)."""
    path = os.path.join(PROPERTIES_DIR, "dataset", f"{name}.yaml")
    defaults = overall_defaults()
    settings: dict = {one.key: defaults[one.key] for one in ConversionSettings.declared()}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            settings.update(yaml.safe_load(handle) or {})
    for option in overrides:
        key, sep, value = option[2:].partition("=")
        if not (option.startswith("--") and sep and key.startswith("convert_")):
            raise ValueError(
                f"unrecognised argument {option!r}: conversion settings are --convert_<key>=value"
            )
        settings[key] = yaml.safe_load(value)
    if settings.get("convert_format") is None:
        raise ValueError(
            f"dataset '{name}': {path} has no convert_format; give --convert_format="
            "amazon2014|amazon2018|yelp|movielens (and --convert_category= for Amazon)"
        )
    return settings


def run_convert(name: str, raw_dir: str | None, out_dir: str | None, overrides: Sequence[str]) -> int:
    settings = conversion_plan(dataset_settings(name, overrides))
    out_dir = out_dir or os.path.join("dataset", name)
    report = convert_dataset(name, raw_dir or os.path.join(out_dir, "raw"), out_dir, settings)
    print(report.summary())
    return 0


def run_stats(dataset: str, with_recbole: bool) -> int:
    folder = dataset if os.path.isdir(dataset) else os.path.join("dataset", dataset)
    name = os.path.basename(os.path.normpath(folder))
    print(format_statistics(name, read_statistics(folder, name)))
    if with_recbole:
        counts = recbole_statistics(folder, name)
        print(
            f"  as RecBole loads it: {counts['users']:,} users, {counts['items']:,} items,"
            f" {counts['interactions']:,} interactions, density {100 * counts['density']:.4f}%,"
            f" mean length {counts['mean_length']:.2f}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command == "stats" and rest:
        parser.error(f"unrecognised argument {rest[0]!r}")
    try:
        if args.command == "convert":
            return run_convert(args.name, args.raw_dir, args.out_dir, rest)
        return run_stats(args.dataset, args.recbole)
    except (MissingDatasetError, RawFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
