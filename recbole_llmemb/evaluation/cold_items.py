"""Testing on cold and warm targets: each user's last interaction, ranked against every item or 100.

The test of the cold-item protocol is each user's last interaction of the whole data (the one a
model trained on the warm data never saw): a *cold* target when that item was held out, *warm*
otherwise. Histories keep their cold items (a model that can embed them from text does). The
user's earlier items are masked from the ranking, the target never. ``uni100`` ranks the target
against 100 items the user never interacted with, drawn once with the seed. Scorers are
functions of a batch of histories (item ids, 0 = padding) returning a score per item id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (histories [B, L], lengths [B]) -> [B, n_ids]


@dataclass
class ColdTest:
    """The test users' histories and targets as item ids of one catalog (``tokens``: id i is tokens[i - 1])."""

    histories: torch.Tensor  # [U, L], left-aligned, 0-padded (RecBole's item_id_list)
    lengths: torch.Tensor  # [U]
    targets: torch.Tensor  # [U]
    seen: list[np.ndarray]  # each user's earlier items (masked from the ranking)
    cold: torch.Tensor  # [U] bool: the target is a cold item
    negatives: torch.Tensor  # [U, 100]: the uni100 candidates besides the target
    n_ids: int  # items + 1 (padding): a scorer's further columns (BERT4Rec's [mask]) are not items

    @classmethod
    def from_sequences(
        cls,
        sequences: dict[str, list[tuple[float, str]]],
        tokens: Sequence[str],
        cold: set[str],
        max_length: int,
        seed: int,
        negatives: int = 100,
    ) -> ColdTest:
        ids = {token: i + 1 for i, token in enumerate(tokens)}
        rows, rng = [], np.random.default_rng([seed, 11])
        for user in sorted(sequences):
            items = [ids[item] for _, item in sequences[user] if item in ids]
            if len(items) < 2:
                continue
            rows.append(
                (items[:-1][-max_length:], items[-1], np.unique(items[:-1]), tokens[items[-1] - 1] in cold)
            )
        if not rows:
            raise ValueError("eval_cold_items: no user has a history and a test item among the model's items")
        histories = torch.zeros(len(rows), max_length, dtype=torch.long)
        for u, (history, *_) in enumerate(rows):
            histories[u, : len(history)] = torch.tensor(history)
        pool = np.arange(1, len(tokens) + 1)
        sampled = []
        for history, target, _, _ in rows:
            allowed = np.setdiff1d(pool, [*history, target], assume_unique=False)
            sampled.append(rng.choice(allowed, size=min(negatives, len(allowed)), replace=False))
        width = min(len(s) for s in sampled)
        return cls(
            histories,
            torch.tensor([len(r[0]) for r in rows]),
            torch.tensor([r[1] for r in rows]),
            [r[2] for r in rows],
            torch.tensor([r[3] for r in rows]),
            torch.from_numpy(np.stack([s[:width] for s in sampled])),
            len(tokens) + 1,
        )


def ranks(test: ColdTest, scorer: Scorer, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """0-based rank of each user's target: ``full`` (all items, earlier ones masked), ``uni100``."""
    full, sampled = [], []
    with torch.no_grad():
        for start in range(0, len(test.targets), batch_size):
            part = slice(start, start + batch_size)
            scores = scorer(test.histories[part], test.lengths[part])[:, : test.n_ids].float().clone()
            scores[:, 0] = -torch.inf  # padding
            targets = test.targets[part]
            target_scores = scores.gather(1, targets[:, None])
            for row, seen in enumerate(test.seen[part]):
                scores[row, torch.from_numpy(seen)] = -torch.inf
            full.append((scores > target_scores).sum(1))
            candidates = scores.gather(1, test.negatives[part])
            sampled.append((candidates > target_scores).sum(1))
    return {"full": torch.cat(full), "uni100": torch.cat(sampled)}


def metrics(rank: torch.Tensor, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k (one relevant item) of 0-based ranks."""
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.float() + 2.0), torch.zeros_like(rank, dtype=torch.float))
    return {f"hit@{k}": float(hit.float().mean()), f"ndcg@{k}": float(gain.mean())}


def cold_and_warm(test: ColdTest, scorer: Scorer, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Per protocol: HR@10 / NDCG@10 over cold targets, warm targets and all, with user counts."""
    out = {}
    for protocol, rank in ranks(test, scorer, batch_size).items():
        row: dict[str, float] = {}
        for name, mask in (("cold", test.cold), ("warm", ~test.cold), ("all", torch.ones_like(test.cold))):
            row[f"{name}_users"] = int(mask.sum())
            if mask.any():
                row.update({f"{name}_{key}": value for key, value in metrics(rank[mask]).items()})
        out[protocol] = row
    return out


def popularity_scorer(counts: np.ndarray, seed: int) -> Scorer:
    """Items by their number of training interactions (cold items: 0); ties broken at random, once."""
    noise = np.random.default_rng([seed, 13]).uniform(0.0, 0.5, size=len(counts))
    scores = torch.from_numpy(np.asarray(counts, dtype=np.float64) + noise).float()

    def score(histories: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return scores.expand(len(histories), -1)

    return score


def text_neighbour_scorer(table: torch.Tensor) -> Scorer:
    """Cosine between the LLM table rows of the user's last item and of every item (row 0: padding)."""
    unit = torch.nn.functional.normalize(table.float(), dim=1)

    def score(histories: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        last = histories.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)
        return unit[last] @ unit.T

    return score


def model_scorer(model, item_seq_field: str, item_seq_len_field: str) -> Scorer:
    """A RecBole sequential model's ``full_sort_predict`` over every item id."""
    from recbole.data.interaction import Interaction

    model.eval()

    def score(histories: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        interaction = Interaction({item_seq_field: histories, item_seq_len_field: lengths})
        return model.full_sort_predict(interaction)

    return score
