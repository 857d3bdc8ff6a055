"""Type and range rules for settings, and the rules of RecBole's own options.

A rule takes a value and returns None when it is fine, else what the value should be ("a whole
number >= 1"); the message is ``<key>: <value> is not <that>``. RecBole's options are checked by
``LLMEmbConfig`` before RecBole's Config acts on them: RecBole itself raises tracebacks on many
bad values (an unknown metric, a text topk) or only fails epochs later (a text ``epochs`` in the
Trainer, a ``valid_metric`` that is never computed after the first epoch).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType

import torch
from recbole.evaluator.register import metric_types, metrics_dict
from recbole.utils import EvaluatorType


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(low: int, high: int | None = None) -> Callable:
    """Rule: a whole number >= ``low`` (and <= ``high``)."""
    what = f"a whole number >= {low}" if high is None else f"a whole number in [{low}, {high}]"
    return lambda v: None if _is_int(v) and v >= low and (high is None or v <= high) else what


def number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = True) -> Callable:
    """Rule: a number between ``low`` and ``high`` (``None``: no upper bound), ends open or closed."""

    left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
    what = f"a number in {left}{low}, {'inf' if high is None else high}{right}"

    def check(value):
        if not _is_number(value):
            return what
        above = value > low if low_open else value >= low
        below = high is None or (value < high if high_open else value <= high)
        return None if above and below else what

    return check


def one_of(*choices: str, case: bool = True) -> Callable:
    """Rule: one of ``choices`` (any letter case with ``case=False``, as RecBole reads ``learner``)."""
    folded = {c.lower() for c in choices}

    def check(value):
        if case:
            return None if value in choices else f"one of {', '.join(choices)}"
        return None if isinstance(value, str) and value.lower() in folded else f"one of {', '.join(choices)}"

    return check


def real(value) -> str | None:
    return None if _is_number(value) else "a number"


def boolean(value) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def text(value) -> str | None:
    return None if isinstance(value, str) and value else "a non-empty text"


def mapping(value) -> str | None:
    return None if isinstance(value, dict) else "a dict such as {'key': value}"


def optional(check: Callable) -> Callable:
    """Rule: None (``~`` in YAML), or what ``check`` accepts."""
    return lambda v: None if v is None else check(v)


def list_of(check: Callable, what: str) -> Callable:
    return lambda v: None if isinstance(v, list) and all(check(x) is None for x in v) else f"a list of {what}"


def strings(value) -> str | None:
    return None if isinstance(value, list) and all(isinstance(x, str) for x in value) else "a list of names"


def gpu_ids(value) -> str | None:
    """Rule of ``gpu_id``: ``0``, ``'0,1'``, ``(0, 1)``, or ``''`` for no GPU (RecBole's forms)."""
    if _is_int(value) and value >= 0:
        return None
    if isinstance(value, tuple | list) and value and all(_is_int(x) and x >= 0 for x in value):
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*)?", value):
        return None
    return "a GPU number, or GPU numbers separated by commas (0 or 0,1; '' for none)"


def top_ks(value) -> str | None:
    if _is_int(value) and value >= 1:
        return None
    if isinstance(value, list) and value and all(_is_int(k) and k >= 1 for k in value):
        return None
    return "a whole number >= 1 or a list of them ([10] or [5, 10])"


def evaluation_args(value) -> str | None:
    """Rule of ``eval_args``: its split, order, group_by and mode as RecBole's dataset reads them."""
    if not isinstance(value, dict) or set(value) - {"split", "order", "group_by", "mode"}:
        return "a dict of split, order, group_by and mode"
    split = value.get("split", {"LS": "valid_and_test"})
    ((kind, ratios),) = split.items() if isinstance(split, dict) and len(split) == 1 else ((None, None),)
    numbers = isinstance(ratios, list) and ratios and all(_is_number(r) and r >= 0 for r in ratios)
    if not (
        kind == "LS"
        and ratios in ("valid_and_test", "valid_only", "test_only")
        or kind in ("RS", "TS")
        and numbers
    ):
        return "a dict whose split is {'LS': 'valid_and_test'} (or valid_only, test_only) or {'RS': [0.8, 0.1, 0.1]}"
    modes = value.get("mode", "full")
    modes = list(modes.values()) if isinstance(modes, dict) else [modes]
    if not all(isinstance(m, str) and re.fullmatch(r"full|labeled|(uni|pop)[1-9]\d*", m) for m in modes):
        return "a dict whose mode is full, labeled, uni<N> or pop<N> (uni100: the paper's protocol)"
    if value.get("order", "TO") not in ("RO", "TO"):
        return "a dict whose order is TO (by time) or RO (random)"
    group_by = value.get("group_by", "user")
    if not (group_by is None or str(group_by).lower() in ("user", "none")):
        return "a dict whose group_by is user or none"
    return None


def ranking_metric_names() -> list[str]:
    """RecBole's registered ranking metrics (full-sort evaluation computes no others), by class name."""
    return sorted(
        metrics_dict[n].__name__ for n, kind in metric_types.items() if kind == EvaluatorType.RANKING
    )


def metric_list(value) -> str | None:
    names = [value] if isinstance(value, str) else value
    known = {name.lower() for name in ranking_metric_names()}
    if isinstance(names, list) and names and all(isinstance(n, str) and n.lower() in known for n in names):
        return None
    return f"a list of RecBole ranking metrics ({', '.join(ranking_metric_names())})"


def intervals(value) -> str | None:
    """Rule of RecBole's ``*_inter_num_interval``: ``'[5,inf)'``, several joined by ``;``."""
    if value is None:
        return None
    for part in str(value).split(";"):
        part = part.strip()
        bounds = part[1:-1].split(",")
        try:
            numbers = len(bounds) == 2 and all(float(b) == float(b) for b in bounds)  # NaN is no bound
        except ValueError:
            numbers = False
        if not (part and part[0] in "([" and part[-1] in ")]" and numbers):
            return "an interval such as '[5,inf)' or '(0,100]', several joined by ';'"
    return None


def cold_items(value) -> str | None:
    """Rule of ``eval_cold_items``: a share of the items, or their ids."""
    if isinstance(value, list) and value:
        return None
    fraction = number(0, 1, low_open=True)(value) is None
    return None if fraction else "a fraction in (0, 1) or a list of item ids"


def auto_or_boolean(value) -> str | None:
    return None if value in ("auto", True, False) else "auto, True or False"


def torch_device(value) -> str | None:
    """Rule of ``llm_device``: a device torch knows (cpu, cuda, cuda:1, mps)."""
    try:
        torch.device(value)
    except (RuntimeError, TypeError):
        return "a torch device such as cpu, cuda or cuda:1"
    return None


def increasing(value) -> str | None:
    """Rule of group edges: strictly increasing whole numbers >= 1."""
    if isinstance(value, list) and value and all(_is_int(x) and x >= 1 for x in value):
        if value == sorted(set(value)):
            return None
    return "a strictly increasing list of whole numbers >= 1"


def year_or_date(value) -> str | None:
    """Rule of a date bound: a year (2019), a date, or a date as text ('2019-12-31': its form is
    checked when the conversion reads it)."""
    year = _is_int(value) and 1000 <= value <= 9999
    if year or isinstance(value, date) or isinstance(value, str) and value.strip():
        return None
    return "a year (2019) or a quoted date ('2019-12-31')"


def file_pair(value) -> str | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(n, str) and n for n in value):
        return None
    return "[interactions file, items file]"


PROBABILITY = number(0, 1)  # [0, 1)
POSITIVE = number(0, low_open=True, high_open=False)

# RecBole 1.2.1's options read by its Config, data loading, Trainer and the three backbones
# (properties/overall.yaml, dataset/sample.yaml, model/SASRec|GRU4Rec|BERT4Rec.yaml).
RECBOLE_RULES: dict[str, Callable] = {
    # environment
    "gpu_id": gpu_ids, "use_gpu": boolean, "seed": integer(0, 2**32 - 1), "reproducibility": boolean,
    "state": optional(one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", case=False)),
    "data_path": text, "checkpoint_dir": text, "show_progress": boolean, "save_dataset": boolean,
    "save_dataloaders": boolean, "log_wandb": boolean, "shuffle": boolean, "worker": integer(0),
    # training
    "epochs": integer(1), "train_batch_size": integer(1), "learning_rate": POSITIVE,
    "learner": one_of("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam", case=False),
    "train_neg_sample_args": optional(mapping), "eval_step": integer(0), "stopping_step": integer(1),
    "clip_grad_norm": optional(mapping), "weight_decay": number(0), "loss_decimal_place": integer(0),
    "require_pow": boolean, "enable_amp": boolean, "enable_scaler": boolean,
    "transform": optional(one_of("mask_itemseq", "inverse_itemseq", "crop_itemseq", "reorder_itemseq", "user_defined")),
    # evaluation
    "eval_args": evaluation_args, "repeatable": boolean, "metrics": metric_list, "topk": top_ks, "valid_metric": text,
    "eval_batch_size": integer(1), "metric_decimal_place": integer(0),
    # data
    "field_separator": text, "seq_separator": text, "USER_ID_FIELD": text, "ITEM_ID_FIELD": text,
    "TIME_FIELD": optional(text), "RATING_FIELD": optional(text), "load_col": optional(mapping),
    "unload_col": optional(mapping), "rm_dup_inter": optional(one_of("first", "last")),
    "filter_inter_by_user_or_item": boolean, "user_inter_num_interval": intervals,
    "item_inter_num_interval": intervals, "MAX_ITEM_LIST_LENGTH": integer(1),
    # SASRec, GRU4Rec, BERT4Rec
    "hidden_size": integer(1), "embedding_size": integer(1), "inner_size": integer(1), "n_layers": integer(1),
    "n_heads": integer(1), "num_layers": integer(1), "hidden_dropout_prob": PROBABILITY,
    "attn_dropout_prob": PROBABILITY, "dropout_prob": PROBABILITY,
    "hidden_act": one_of("gelu", "relu", "swish", "tanh", "sigmoid"), "layer_norm_eps": POSITIVE,
    "initializer_range": POSITIVE, "loss_type": one_of("CE", "BPR"), "mask_ratio": number(0, 1, low_open=True),
    "ft_ratio": number(0, 1, high_open=False),
}  # fmt: skip


def check_values(settings: Mapping, rules: Mapping[str, Callable]) -> None:
    """Raise a one-line ValueError for the first setting of ``settings`` that its rule refuses."""
    for key, check in rules.items():
        if key in settings:
            problem = check(settings[key])
            if problem:
                raise ValueError(f"{key}: {settings[key]!r} is not {problem}")


def _validation_keys(metrics, topk) -> list[str]:
    """The result keys RecBole's evaluation computes: ``ndcg@10`` per metric and cut-off, ``gauc``."""
    names = [metrics] if isinstance(metrics, str) else metrics
    ks = [topk] if _is_int(topk) else topk
    return [m.lower() if m.lower() == "gauc" else f"{m.lower()}@{k}" for m in names for k in ks]


def check_recbole_settings(settings: Mapping, model_defaults: Mapping = MappingProxyType({})) -> None:
    """RecBole's options of the final ``settings`` checked (type, range, and how they fit together).

    ``model_defaults``: the model's defaults (a transformer has ``n_heads``).
    """
    rules = dict(RECBOLE_RULES)
    if "loss_type" in model_defaults and model_defaults["loss_type"] not in ("CE", "BPR"):
        del rules["loss_type"]  # a RecBole model of other losses (CDAE: BCE, MSE) checks its own
    check_values(settings, rules)
    if "n_heads" in model_defaults and settings.get("hidden_size", 0) % settings.get("n_heads", 1):
        raise ValueError(
            f"hidden_size: {settings['hidden_size']} is not a multiple of n_heads ({settings['n_heads']});"
            " the attention heads split it evenly"
        )
    negatives = settings.get("train_neg_sample_args")
    if settings.get("loss_type") == "BPR" and negatives in (None, "None"):
        raise ValueError(
            "loss_type: BPR needs a negative item per interaction; also set"
            " train_neg_sample_args=\"{'distribution': 'uniform', 'sample_num': 1}\", or use CE"
        )
    if "valid_metric" in settings and "metrics" in settings and "topk" in settings:
        computed = _validation_keys(settings["metrics"], settings["topk"])
        wanted = settings["valid_metric"].lower()
        # The long-tail evaluator also reports each key per group: tail_ndcg@10, group1_hit@10 ...
        if wanted not in computed and wanted.partition("_")[2] not in computed:
            raise ValueError(
                f"valid_metric: {settings['valid_metric']!r} is not a computed result ({', '.join(computed)});"
                " pick one, or add its metric to metrics and its cut-off to topk"
            )


def check_dataset_name(name) -> None:
    """A dataset is a name (``<data_path>/<name>/<name>.inter``), not a path: say how to give a path."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset: {name!r} is not a dataset name; pass --dataset=<name>")
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    folder = os.path.normpath(name)
    if name in (".", "..") or os.path.basename(folder) in ("", ".", ".."):
        raise ValueError(
            f"dataset: {name!r} is not a dataset name (RecBole reads <data_path>/<name>/<name>.inter);"
            " pass --dataset=<name> and --data_path=<the folder that holds <name>/>"
        )
    if any(s in name for s in separators):
        raise ValueError(
            f"dataset: {name!r} is a path, not a name (RecBole reads <data_path>/<name>/<name>.inter); for"
            f" {os.path.join(folder, os.path.basename(folder))}.inter pass --dataset={os.path.basename(folder)}"
            f" --data_path={os.path.dirname(folder) or '.'}"
        )
