"""Is LLMEmb's HR@10 difference to the plain backbone real, per user, on tail and head targets?

Takes checkpoint pairs (plain, LLMEmb) of one dataset and split, typically one pair per seed,
ranks every item for each test user under full ranking (as ``rank_diagnostics.py`` does) and
prints, per pair and target group, how many users only the plain model hits and how many only
LLMEmb hits, with the exact two-sided McNemar p-value (a binomial test on those discordant users).
The last rows average each user's hit over the pairs (seeds) and sign-test the per-user
differences: users are the independent units there, so seeds are not counted as extra data.

    python benchmarks/paired_tail_test.py saved/llmemb/<ds>/pretrained-SASRec-<key1>.pth \
        saved/llmemb/<ds>/LLMEmbSASRec-<key1>.pth [<plain2> <llmemb2> ...]
"""

from __future__ import annotations

import sys

import numpy as np
from rank_diagnostics import load_model, rank_targets, top10_hits
from scipy.stats import binomtest

from recbole_llmemb.compat import load_recbole_checkpoint
from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.popularity import PopularityGroups, training_item_popularity


def two_sided_sign_p(wins: int, losses: int) -> float:
    """Exact two-sided p of ``wins`` vs ``losses`` under no difference (1.0 when both are zero)."""
    return 1.0 if wins + losses == 0 else float(binomtest(wins, wins + losses, 0.5).pvalue)


def format_p(p: float) -> str:
    """Three decimals, or two significant digits below 0.001 (amazon-beauty's p-values are tiny)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def main(paths: list[str]) -> None:
    if not paths or len(paths) % 2:
        sys.exit(
            "paired_tail_test.py: give checkpoint pairs: <plain.pth> <llmemb.pth> [<plain.pth> <llmemb.pth> ...]"
        )
    checkpoints = [load_recbole_checkpoint(path) for path in paths]
    first = checkpoints[0]["config"]
    # The leave-one-out split does not depend on the seed: one test set serves every pair.
    dataset, train_data, _, test_data = load_data(first)
    n_items = dataset.item_num
    popularity = training_item_popularity(train_data.dataset, n_items)
    groups = PopularityGroups.from_config(first, popularity)

    hits = []
    for checkpoint in checkpoints:
        _, model = load_model(checkpoint, train_data.dataset)
        _, tops, targets = rank_targets(model, test_data, n_items)
        hits.append(top10_hits(tops, targets))
    tail = groups.target_masks(targets)["tail"].numpy()
    masks = {"tail": tail, "head": ~tail, "all": np.ones_like(tail)}
    print(
        f"{first['dataset']}: {len(tail)} test users, {int(tail.sum())} tail ({groups.tail_rule}); full ranking, HR@10"
    )
    print(
        "| pair | targets | users | plain HR@10 | LLMEmb HR@10 | only plain hits | only LLMEmb hits | p (McNemar, exact) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    plain, llmemb = np.array(hits[0::2], dtype=float), np.array(hits[1::2], dtype=float)
    for pair in range(len(plain)):
        for group, mask in masks.items():
            a, b = plain[pair][mask], llmemb[pair][mask]
            only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
            print(
                f"| {pair + 1} | {group} | {int(mask.sum())} | {a.mean():.4f} | {b.mean():.4f} | {only_a} "
                f"| {only_b} | {format_p(two_sided_sign_p(only_b, only_a))} |"
            )
    print()
    print(f"Mean over the {len(plain)} pairs per user, sign test on the per-user differences:")
    print(
        "| targets | users | plain HR@10 | LLMEmb HR@10 | users better with plain | users better with LLMEmb | p (sign test) |"
    )
    print("|---|---|---|---|---|---|---|")
    diff = llmemb.mean(0) - plain.mean(0)
    for group, mask in masks.items():
        worse, better = int((diff[mask] < 0).sum()), int((diff[mask] > 0).sum())
        print(
            f"| {group} | {int(mask.sum())} | {plain.mean(0)[mask].mean():.4f} | {llmemb.mean(0)[mask].mean():.4f} "
            f"| {worse} | {better} | {format_p(two_sided_sign_p(better, worse))} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
