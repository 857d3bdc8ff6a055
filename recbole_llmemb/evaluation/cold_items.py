"""Testing on cold and warm targets with the main evaluator's candidates and metrics.

The test rows are the leave-one-out test rows of the whole data (each user's last interaction,
which a model trained on the warm data never saw): a *cold* target when that item was held out,
*warm* otherwise. Histories keep their cold items (a model that can embed them from text does).
Both protocols rank as the main evaluator does (:mod:`.candidates`) with the history excluded
(:mod:`.seen_items`, the target never): ``full`` against every item, ``uni100`` against the
user's fixed negatives (:mod:`.fixed_negatives`: the main report's draw, seeded by (seed, user)).
HR@10 and NDCG@10 are RecBole's, over all rows and per cold / warm rows
(:mod:`.longtail`). Scorers are functions of a batch of histories (item ids, 0 = padding)
returning a score per item id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from recbole.evaluator import Collector
from recbole.evaluator.collector import DataStruct

from .candidates import restrict_to_candidates
from .fixed_negatives import FixedNegatives
from .longtail import TARGETS, LongTailEvaluator
from .seen_items import SeenItems

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (histories [B, L], lengths [B]) -> [B, n_ids]

SAMPLED_NEGATIVES = 100  # the uni100 protocol


@dataclass
class ColdTest:
    """The test rows, as item ids of one RecBole dataset, and what the main evaluator ranks them against."""

    users: torch.Tensor  # [U]: internal user ids
    histories: torch.Tensor  # [U, L], left-aligned, 0-padded (RecBole's item_id_list)
    lengths: torch.Tensor  # [U]
    targets: torch.Tensor  # [U]
    cold_items: torch.Tensor  # the held-out items' ids
    seen: SeenItems  # each user's earlier items (never candidates)
    negatives: FixedNegatives  # each user's uni100 candidates besides the target
    n_ids: int  # items + 1 (padding): a scorer's further columns (BERT4Rec's [mask]) are not items

    @classmethod
    def from_split(
        cls,
        dataset,
        train_dataset,
        test_dataset,
        cold: Iterable[str],
        seed: int,
        negatives: int = SAMPLED_NEGATIVES,
    ) -> ColdTest:
        """``test_dataset``'s rows; ``dataset`` (before the split) and ``train_dataset`` as the main
        evaluator reads them; ``cold``: the held-out item tokens."""
        config, iid = dataset.config, dataset.iid_field
        feat = test_dataset.inter_feat
        ids = dataset.field2token_id[iid]
        unknown = sorted(token for token in cold if token not in ids)
        if unknown:
            raise ValueError(f"eval_cold_items: {unknown[:3]} are not items of dataset '{config['dataset']}'")
        return cls(
            feat[dataset.uid_field],
            feat[iid + config["LIST_SUFFIX"]],
            feat[config["ITEM_LIST_LENGTH_FIELD"]],
            feat[iid],
            torch.tensor(sorted(ids[token] for token in cold), dtype=torch.long),
            SeenItems.from_training_rows(train_dataset, dataset.user_num, dataset.item_num),
            FixedNegatives.from_dataset(dataset, negatives, seed),
            dataset.item_num,
        )

    @property
    def cold(self) -> torch.Tensor:
        """``[U]`` booleans: the row's target is a cold item."""
        return torch.isin(self.targets, self.cold_items)


class ColdWarmEvaluator(LongTailEvaluator):
    """The main evaluator's metrics, also over the rows whose target is cold and those whose is warm."""

    def __init__(self, config, cold_items: torch.Tensor):
        super().__init__(config)
        self.cold_items = cold_items

    def row_masks(self, dataobject: DataStruct) -> dict[str, torch.Tensor]:
        cold = torch.isin(dataobject.get(TARGETS), self.cold_items)
        return {"cold": cold, "warm": ~cold}


def evaluation_settings(decimal_place: int = 4) -> dict:
    """What RecBole's Collector and metrics read of a config: HR@10 and NDCG@10, rounded as the main
    report's (``metric_decimal_place``)."""
    return {
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "metric_decimal_place": decimal_place,
        "eval_args": {"mode": "full"},
        "device": torch.device("cpu"),
    }


def cold_and_warm(
    test: ColdTest, scorer: Scorer, decimal_place: int = 4, batch_size: int = 256
) -> dict[str, dict[str, float]]:
    """Per protocol (``full``, ``uni100``): HR@10 / NDCG@10 over cold targets, warm targets and all,
    with user counts; a group without users has its count only."""
    settings = evaluation_settings(decimal_place)
    protocols = {"full": None, f"uni{test.negatives.n}": test.negatives}
    collectors = {name: Collector(settings) for name in protocols}
    with torch.no_grad():
        for start in range(0, len(test.targets), batch_size):
            part = slice(start, start + batch_size)
            scores = scorer(test.histories[part], test.lengths[part])[:, : test.n_ids].float().clone()
            scores[:, 0] = -np.inf  # padding, as RecBole's Trainer._full_sort_batch_eval sets it
            targets = test.targets[part]
            rows = torch.arange(len(targets))
            for name, negatives in protocols.items():
                ranked = restrict_to_candidates(
                    scores, test.users[part], test.histories[part], rows, targets, negatives, test.seen
                )
                collectors[name].eval_batch_collect(
                    ranked, None, rows.to(scores.device), targets.to(scores.device)
                )
    evaluator = ColdWarmEvaluator(settings, test.cold_items)
    out = {}
    for name, collector in collectors.items():
        data = collector.get_data_struct()
        data.set(TARGETS, test.targets)
        result = evaluator.evaluate(data)
        row = {key: value for key, value in result.items() if key.startswith(("cold_", "warm_"))}
        row["all_users"] = len(test.targets)
        row.update({f"all_{key}": result[key] for key in ("hit@10", "ndcg@10")})
        out[name] = {key: int(v) if key.endswith("_users") else float(v) for key, v in row.items()}
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
