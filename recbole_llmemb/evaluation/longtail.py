"""Long-tail evaluation inside RecBole's own Collector / Evaluator flow.

Every top-k metric in ``metrics`` (Hit, NDCG, Recall, ...) is also reported for the test users
whose target item is tail / head, for each popularity group, and for short / long histories:
``tail_hit@10``, ``head_ndcg@10``, ``group1_hit@10``, ``short_hit@10`` ... plus ``<group>_users``.
Short / long users split by their number of training interactions (not RecBole's capped
``item_length``).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from recbole.evaluator import Collector, Evaluator
from recbole.evaluator.base_metric import TopkMetric
from recbole.evaluator.collector import DataStruct

from ..distributed import gather_to_all, is_distributed
from ..settings import EvaluationSettings
from .popularity import PopularityGroups

TARGETS = "longtail.target_item"
USERS = "longtail.user"


class LongTailCollector(Collector):
    """RecBole's Collector, also keeping each evaluated row's user and target item."""

    PER_EVALUATION = (
        "rec.topk",
        "rec.meanrank",
        "rec.score",
        "rec.items",
        "data.label",
        TARGETS,
        USERS,
    )

    def get_data_struct(self) -> DataStruct:
        """The collected data; per-evaluation entries are then cleared.

        Unlike RecBole 1.2.1, only tensors are moved to the CPU (its ``.cpu()`` on every entry
        crashes ItemCoverage, GiniIndex, AveragePopularity and TailPercentage).
        """
        data = self.data_struct._data_dict
        for key, value in data.items():
            if isinstance(value, torch.Tensor):
                data[key] = value.cpu()
        if is_distributed():
            self._gather_ranks(data)
        returned = copy.deepcopy(self.data_struct)
        for key in self.PER_EVALUATION:
            if key in self.data_struct:
                del self.data_struct[key]
        return returned

    def _gather_ranks(self, data: dict) -> None:
        """Every rank's rows on every rank. RecBole's distributed sampler pads the last rank's share
        with repeated users: each user's first row is kept, so the rows are one process's."""
        keys = [key for key in self.PER_EVALUATION if isinstance(data.get(key), torch.Tensor)]
        shares = gather_to_all({key: data[key] for key in keys})
        for key in keys:
            data[key] = torch.cat([share[key] for share in shares])
        if USERS in keys:
            users = data[USERS]
            first = torch.ones(len(users), dtype=torch.bool)
            seen = set()
            for i, user in enumerate(users.tolist()):
                first[i] = user not in seen
                seen.add(user)
            for key in keys:
                if len(data[key]) == len(users):
                    data[key] = data[key][first]

    def eval_batch_collect(self, scores_tensor, interaction, positive_u, positive_i):
        super().eval_batch_collect(scores_tensor, interaction, positive_u, positive_i)
        n_rows = scores_tensor.shape[0]
        targets = torch.zeros(n_rows, dtype=torch.long)
        # Leave-one-out: one positive per row; with several, the last one is kept.
        targets[positive_u.cpu()] = positive_i.cpu().long()
        self.data_struct.update_tensor(TARGETS, targets)
        user_field = self.config["USER_ID_FIELD"]
        if user_field in interaction.interaction and len(interaction) == n_rows:
            self.data_struct.update_tensor(USERS, interaction[user_field].cpu().long())


class LongTailEvaluator(Evaluator):
    """RecBole's Evaluator plus the top-k metrics per target-popularity and history-length group."""

    def __init__(self, config, groups: PopularityGroups | None = None, history_lengths=None):
        super().__init__(config)
        self.groups = groups
        self.history_lengths = history_lengths  # training interactions per internal user id

    def row_masks(self, dataobject: DataStruct) -> dict[str, torch.Tensor]:
        masks = self.groups.target_masks(dataobject.get(TARGETS)) if self.groups is not None else {}
        if USERS in dataobject and self.history_lengths is not None:
            lengths = torch.as_tensor(self.history_lengths)[dataobject.get(USERS)]
            # Read here, where the history groups are made: an evaluator without them (the cold
            # test's) is given only the settings RecBole's metrics read.
            threshold = EvaluationSettings.from_config(self.config).user_length_threshold
            if threshold is None:
                threshold = float(lengths.float().quantile(0.5))
            masks["short"] = lengths < threshold
            masks["long"] = lengths >= threshold
        return masks

    def evaluate(self, dataobject: DataStruct) -> OrderedDict:
        result = super().evaluate(dataobject)
        if TARGETS not in dataobject or "rec.topk" not in dataobject:
            return result
        topk = dataobject.get("rec.topk")
        topk_metrics = [m for m in self.metric_class.values() if isinstance(m, TopkMetric)]
        for name, mask in self.row_masks(dataobject).items():
            result[f"{name}_users"] = int(mask.sum())
            if not mask.any():
                continue
            subset = DataStruct()
            subset.set("rec.topk", topk[mask])
            for metric in topk_metrics:
                for key, value in metric.calculate_metric(subset).items():
                    result[f"{name}_{key}"] = value
        return result
