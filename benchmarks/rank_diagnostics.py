"""What outranks the test target under full ranking: popular items, or the target's look-alikes?

Loads trained checkpoints (a plain backbone and LLMEmb ones, same dataset and split), ranks every
item for each test user (history masked as RecBole does) and prints, for tail and head targets:
HR@10, the median rank of the target, the median training popularity of the top-10 items, the
share of head items among them, and the share of the top-10 that are among the target's 100
nearest neighbours in the LLM table (cosine; at random that share is 100 / n_items).

    python benchmarks/rank_diagnostics.py saved/llmemb/<ds>/pretrained-SASRec-<key>.pth \
        saved/llmemb/<ds>/LLMEmbSASRec-<key>.pth ...

The LLM table used for neighbours is the first LLMEmb checkpoint's (its conditioned PCA table).
A second table says how much item popularity each model's item table encodes: the 5-fold
(shuffled) cross-validated R^2 of a ridge regression from the table to log(1 + training
popularity), and the Spearman correlation of the row norm with popularity.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from ridge import popularity_r2
from scipy.stats import spearmanr

from recbole_llmemb.compat import load_recbole_checkpoint
from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.popularity import PopularityGroups, training_item_popularity
from recbole_llmemb.trainer.cached_training import item_rows
from recbole_llmemb.utils import get_model

NEIGHBOURS = 100


def load_model(checkpoint: dict, dataset):
    config = checkpoint["config"]
    # Checkpoints from before SCFT existed carry no `scft` key; they used the untuned LLM.
    config.final_config_dict.setdefault("scft", False)
    model = get_model(config["model"])(config, dataset)
    model.load_state_dict(checkpoint["state_dict"])
    return config, model.eval()


@torch.no_grad()
def rank_targets(model, test_data, n_items: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Per test user: the target's 0-based rank, the top-10 item ids and the target id."""
    ranks, tops, targets = [], [], []
    for interaction, history_index, _, positive_i in test_data:
        scores = model.full_sort_predict(interaction).view(-1, n_items)
        scores[:, 0] = -np.inf
        if history_index is not None:
            scores[history_index] = -np.inf
        target = scores.gather(1, positive_i.view(-1, 1))
        ranks.append((scores > target).sum(1).numpy())
        tops.append(scores.topk(10, dim=1).indices.numpy())
        targets.append(positive_i)
    return np.concatenate(ranks), np.concatenate(tops), torch.cat(targets)


def top10_hits(tops: np.ndarray, targets: torch.Tensor) -> np.ndarray:
    """Per test user: is the target in the top-10? Counted as RecBole does (membership in torch's
    top-k) rather than from the rank, so exact ties (items with identical rows) settle the same way."""
    return (tops == targets.numpy()[:, None]).any(1)


def popularity_in_table(weight: np.ndarray, popularity: np.ndarray) -> tuple[float, float]:
    """``(ridge R^2 of log popularity from the rows, Spearman(row norm, popularity))``, padding row excluded."""
    rows, pop = weight[1:], popularity[1:]
    return popularity_r2(rows, pop), float(spearmanr(np.linalg.norm(rows, axis=1), pop)[0])


def main(paths: list[str]) -> None:
    checkpoints = [load_recbole_checkpoint(path) for path in paths]
    first = checkpoints[-1]["config"]
    dataset, train_data, _, test_data = load_data(first)
    n_items = dataset.item_num
    popularity = training_item_popularity(train_data.dataset, n_items)
    groups = PopularityGroups.from_config(first, popularity)
    head_items = ~groups.tail

    ranked, table = [], None
    for checkpoint in checkpoints:
        config, model = load_model(checkpoint, train_data.dataset)
        if table is None and hasattr(model.item_embedding, "table"):
            table = F.normalize(model.item_embedding.table.detach().float(), dim=1)
        ranks, tops, targets = rank_targets(model, test_data, n_items)  # same users, same order each time
        ranked.append((config["model"], ranks, tops, popularity_in_table(item_rows(model), popularity)))
    tail = groups.target_masks(targets)["tail"].numpy()
    neighbours = (table[targets] @ table.T).topk(NEIGHBOURS + 1, dim=1).indices[:, 1:].numpy()
    print(f"{first['dataset']}: {len(targets)} test users, {int(tail.sum())} tail ({groups.tail_rule})")
    print(
        f"random share of top-10 among the target's {NEIGHBOURS} LLM neighbours: {NEIGHBOURS / n_items:.4f}"
    )
    print(
        "| model | targets | HR@10 | median target rank | median top-10 popularity | head share of top-10 | neighbour share of top-10 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, ranks, tops, _ in ranked:
        near = np.array([np.isin(top, nb).mean() for top, nb in zip(tops, neighbours, strict=True)])
        hit = top10_hits(tops, targets)
        for group, mask in (("tail", tail), ("head", ~tail)):
            print(
                f"| {name} | {group} | {hit[mask].mean():.4f} | {np.median(ranks[mask]):.0f} "
                f"| {np.median(popularity[tops[mask]]):.0f} | {head_items[tops[mask]].mean():.3f} "
                f"| {near[mask].mean():.4f} |"
            )

    print()
    print("| model | ridge R^2 of log popularity from the item table | Spearman(row norm, popularity) |")
    print("|---|---|---|")
    for name, _, _, (r2, rho) in ranked:
        print(f"| {name} | {r2:.3f} | {rho:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
