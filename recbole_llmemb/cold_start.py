"""The cold-item protocol: items held out of everything, then added from their text and tested.

``run_cold_items`` takes the cold items out (:mod:`.data.cold_items`), runs the usual comparison
on the warm data (SCFT, table and PCA see only warm items' text; plain and LLMEmb train on warm
interactions), adds the cold items to the trained LLMEmb model from their text
(:func:`~recbole_llmemb.model.add_items.add_items`), and tests every method on each user's last
interaction of the whole data, its leave-one-out test rows, with the main evaluator's candidates
and metrics (:mod:`.evaluation.cold_items`): LLMEmb, LLMEmb without SCFT, the
plain backbone (cold items get its initialiser's rows: RecBole cannot score an item it did not
see, and a row no training step touched is what such an item would have), popularity, the
text-only nearest neighbour of the user's last item, and (``eval_cold_reference``) both models
of the comparison without held-out items, on the same users.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter

import numpy as np
import torch
from recbole.utils import init_seed

from .artifacts.atomic_write import atomic_write
from .artifacts.fingerprints import key_of
from .artifacts.records import verified_record
from .compat import init_logger, load_recbole_checkpoint
from .data.cold_items import cold_split, read_sequences
from .data.dataset_files import require_atomic_files
from .data.loading import load_data
from .distributed import is_main
from .evaluation.cold_items import (
    ColdTest,
    Scorer,
    cold_and_warm,
    model_scorer,
    popularity_scorer,
    text_neighbour_scorer,
)
from .model.add_items import ItemsOnly, add_items, load_extended_model
from .model.registry import get_model, llmemb_class
from .quick_start import compare, make_config
from .settings import ColdItemSettings, OutputSettings, TableSettings

logger = logging.getLogger(__name__)


def plain_with_cold_rows(checkpoint: str, tokens: list[str], n_cold: int, seed: int):
    """The plain model of ``checkpoint`` over ``tokens`` (its items, then ``n_cold`` cold ones): the
    cold items' rows as the model's own initialiser draws them (seeded), the rest as trained."""
    saved = load_recbole_checkpoint(checkpoint, key=verified_record(checkpoint)["key"])
    config, state = saved["config"], saved["state_dict"]
    init_seed(seed, True)
    # The class by the recorded name, in this process (a loaded Config's reference may be unresolved).
    model = get_model(config["model"])(config, ItemsOnly(config["ITEM_ID_FIELD"], tokens))
    kept = 1 + len(tokens) - n_cold  # [PAD] and the trained items
    for name, fresh in model.state_dict().items():
        trained = state[name]
        if fresh.shape != trained.shape:  # an item-row tensor; BERT4Rec's [mask] row stays last
            grown = fresh.clone()
            grown[:kept] = trained[:kept]
            extra = trained.shape[0] - kept
            if extra:
                grown[-extra:] = trained[-extra:]
            state[name] = grown
    model.load_state_dict(state)
    return model.eval()


def _counts(sequences: dict, tokens: list[str], cold: set[str]) -> np.ndarray:
    """Training interactions per item id (each user's last one is the test; cold items: 0)."""
    counter = Counter(item for events in sequences.values() for _, item in events[:-1] if item not in cold)
    return np.array([0] + [counter.get(token, 0) for token in tokens], dtype=np.float64)


def run_cold_items(model: str, dataset: str, config_file_list=None, config_dict: dict | None = None) -> dict:
    """The cold-item protocol for backbone ``model`` on ``dataset``; the rows per method and the report."""
    llmemb = llmemb_class(model)
    config = make_config(llmemb, dataset, config_file_list, config_dict)
    init_logger(config)
    require_atomic_files(config)
    sequences = read_sequences(config)
    split = cold_split(config, sequences)
    cold = set(split.cold)
    logger.info("Cold items: %d of the dataset's items held out, in %s", len(cold), split.data_path)
    warm = {**(config_dict or {}), "data_path": split.data_path, "eval_cold_items": None}
    outcome = compare(llmemb.backbone.__name__, dataset, config_file_list, warm)
    rows: dict[str, dict] = {}
    seed = int(config["seed"])
    extended, tokens = load_extended_model(add_items(outcome["llmemb"]["checkpoint"], split.cold_item_file))
    test, test_tokens = _cold_test(config, cold, seed)
    decimal_place = int(config["metric_decimal_place"])
    fields = (config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"], config["ITEM_LIST_LENGTH_FIELD"])

    def evaluate(scorer: Scorer, own: list[str] = tokens) -> dict:
        return cold_and_warm(test, reordered(scorer, own, test_tokens), decimal_place)

    plain = plain_with_cold_rows(outcome["plain"]["checkpoint"], tokens, len(cold), seed)
    rows[llmemb.backbone.__name__] = evaluate(model_scorer(plain, *fields))
    rows["popularity"] = evaluate(popularity_scorer(_counts(sequences, tokens, cold), seed))
    rows["text neighbour"] = evaluate(text_neighbour_scorer(extended.item_embedding.table))
    settings = ColdItemSettings.from_config(config)
    if TableSettings.from_config(config).scft and settings.without_scft:
        without = compare(llmemb.backbone.__name__, dataset, config_file_list, {**warm, "scft": False})
        other, other_tokens = load_extended_model(
            add_items(without["llmemb"]["checkpoint"], split.cold_item_file)
        )
        assert other_tokens == tokens
        rows[f"{llmemb.__name__} w/o SCFT"] = evaluate(model_scorer(other, *fields))
    rows[llmemb.__name__] = evaluate(model_scorer(extended, *fields))
    if settings.reference:
        rows.update(_reference_rows(llmemb, dataset, config_file_list, config_dict, seed, fields, evaluate))
    paths = _report(config, llmemb.backbone.__name__, rows, split, outcome) if is_main() else []
    return {"rows": rows, "cold_items": split.cold, "results": paths, "warm": outcome}


def reordered(scorer: Scorer, own: list[str], tokens: list[str]) -> Scorer:
    """``scorer`` of a model whose id i is ``own[i - 1]``, taking and giving ids of ``tokens`` (the
    same items in another order; a model's further columns, BERT4Rec's [mask], stay last)."""
    index = {token: i + 1 for i, token in enumerate(own)}
    missing = sorted(set(tokens) - set(index))
    if missing or len(own) != len(tokens):
        raise ValueError(f"eval_cold_items: the model's items differ from the test's ({missing[:3]})")
    to_own = torch.tensor([0] + [index[token] for token in tokens])

    def score(histories: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        scores = scorer(to_own[histories], lengths)
        return torch.cat([scores[:, to_own], scores[:, len(own) + 1 :]], dim=1)

    return score


def _cold_test(config, cold: set[str], seed: int) -> tuple[ColdTest, list[str]]:
    """The leave-one-out test rows of the whole data (as the comparison without held-out items loads
    it), and the item tokens of its ids."""
    dataset, train_data, _, test_data = load_data(config)
    test = ColdTest.from_split(dataset, train_data.dataset, test_data.dataset, cold, seed)
    return test, list(dataset.field2id_token[config["ITEM_ID_FIELD"]][1:])


def _reference_rows(llmemb, dataset, config_file_list, config_dict, seed, fields, evaluate) -> dict:
    """Both models trained on every item (the comparison without held-out items, reused when it has
    run), tested on the same rows: what the warm metrics lose when items are held out."""
    backbone = llmemb.backbone.__name__
    everything = compare(
        backbone, dataset, config_file_list, {**(config_dict or {}), "eval_cold_items": None}
    )
    model, own = load_extended_model(everything["llmemb"]["checkpoint"])
    plain = plain_with_cold_rows(everything["plain"]["checkpoint"], own, 0, seed)
    return {
        f"{name} (all items trained)": evaluate(model_scorer(m, *fields), own)
        for name, m in ((backbone, plain), (llmemb.__name__, model))
    }


def _report(config, backbone: str, rows: dict, split, outcome: dict) -> list[str]:
    """``<results_dir>/<dataset>-<backbone>-cold-<key>.md/.json`` and ``-cold.png``; their paths."""
    key = key_of("cold report", outcome["llmemb"]["checkpoint"], sorted(split.cold))[:8]
    results_dir = OutputSettings.from_config(config).results_dir
    stem = os.path.join(results_dir, f"{config['dataset']}-{backbone}-cold-{key}")
    os.makedirs(results_dir, exist_ok=True)
    first = next(iter(rows.values()))
    lines = [
        f"# Cold items: {config['dataset']}, {backbone}",
        "",
        f"{len(split.cold)} items held out ({_choice(config)}); training seed {config['seed']};"
        f" test users: {first['full']['cold_users']} with a cold target, {first['full']['warm_users']} warm.",
        "",
    ]
    for protocol in ("full", "uni100"):
        lines += [
            f"## {protocol}",
            "",
            "| method | cold HR@10 | cold NDCG@10 | warm HR@10 | warm NDCG@10 |",
            "|---|---|---|---|---|",
        ]
        for method, result in rows.items():
            r = result[protocol]
            lines.append(
                f"| {method} | {r.get('cold_hit@10', 0):.4f} | {r.get('cold_ndcg@10', 0):.4f} |"
                f" {r.get('warm_hit@10', 0):.4f} | {r.get('warm_ndcg@10', 0):.4f} |"
            )
        lines.append("")
    with atomic_write(f"{stem}.md", "w") as handle:
        handle.write("\n".join(lines))
    meta = {"cold_items": split.cold, "plain checkpoint": outcome["plain"]["checkpoint"]}
    meta["llmemb checkpoint"] = outcome["llmemb"]["checkpoint"]
    with atomic_write(f"{stem}.json", "w") as handle:
        json.dump({"rows": rows, "meta": meta}, handle, indent=2)
    _plot(rows, f"{stem}.png")
    logger.info("Cold-item report written to %s.md", stem)
    return [f"{stem}.md", f"{stem}.json", f"{stem}.png"]


def _choice(config) -> str:
    """How the cold items were chosen, for the report's first line."""
    settings = ColdItemSettings.from_config(config)
    if isinstance(settings.items, list | tuple):
        return "listed ids"
    if settings.rule == "last":
        return "the latest to appear"
    return f"at random, seed {settings.seed}"


def _plot(rows: dict, path: str) -> None:
    """NDCG@10 on cold and on warm targets per method, one panel per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(rows)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.38
    for axis, protocol in zip(axes, ("full", "uni100"), strict=True):
        for n, group in enumerate(("cold", "warm")):
            values = [rows[m][protocol].get(f"{group}_ndcg@10", 0.0) for m in methods]
            axis.bar(np.arange(len(methods)) + (n - 0.5) * width, values, width, label=f"{group} targets")
        axis.set_xticks(np.arange(len(methods)), methods, rotation=25, ha="right", fontsize=8)
        axis.set_title(f"NDCG@10, {protocol}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)
