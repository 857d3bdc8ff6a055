"""The trainer of every model here: RecBole's Trainer with long-tail evaluation and safe checkpoints."""

from __future__ import annotations

import numpy as np
from recbole.trainer import Trainer

from ..compat import CheckpointCompatMixin
from ..evaluation import seen_items
from ..evaluation.fixed_negatives import FixedNegatives
from ..evaluation.longtail import LongTailCollector, LongTailEvaluator
from ..evaluation.popularity import PopularityGroups, training_history_lengths, training_item_popularity
from ..progress import RecBoleProgressMixin
from ..settings import EvaluationSettings
from .distributed_training import DistributedTrainingMixin
from .recommendation_loss import RecommendationLossMixin


class LongTailEvaluationMixin:
    """Trainer mixin: long-tail metrics in every evaluation, and the fixed sampled protocol.

    Popularity groups come from the training split given to ``fit`` (or ``set_popularity``);
    ``eval_negatives: N`` ranks each target against N fixed negatives drawn from the dataset
    given to ``set_eval_dataset`` (the dataset before the split). ``eval_exclude_history`` removes
    each user's earlier items from the candidates (:mod:`~recbole_llmemb.evaluation.seen_items`).
    """

    def __init__(self, config, model, *args, **kwargs):
        super().__init__(config, model, *args, **kwargs)
        self.eval_collector = LongTailCollector(config)
        self.evaluator = LongTailEvaluator(config)
        settings = EvaluationSettings.from_config(config)
        self.eval_negatives = int(settings.negatives)
        self.fixed_negatives: FixedNegatives | None = None
        self.exclude_history_setting = settings.exclude_history
        self.exclude_history: bool | None = None  # resolved from the data
        self.seen_items: seen_items.SeenItems | None = None

    def set_popularity(self, train_data) -> PopularityGroups:
        """Tail / head / groups from the training split's item popularity."""
        popularity = training_item_popularity(train_data.dataset, self.model.n_items)
        self.evaluator.groups = PopularityGroups.from_config(self.config, popularity)
        self.evaluator.history_lengths = training_history_lengths(
            train_data.dataset, train_data.dataset.user_num
        )
        self.seen_items = seen_items.SeenItems.from_training_rows(
            train_data.dataset, train_data.dataset.user_num, self.model.n_items
        )
        if self.exclude_history is None:  # set_eval_dataset, given every split, decides for good
            self.exclude_history = seen_items.resolve(self.exclude_history_setting, train_data.dataset)
        return self.evaluator.groups

    def set_eval_dataset(self, dataset) -> None:
        """The dataset before the split: every user's items, excluded from the sampled negatives; whether
        items repeat (``eval_exclude_history: auto``)."""
        self.exclude_history = seen_items.resolve(self.exclude_history_setting, dataset)
        if self.eval_negatives:
            self.fixed_negatives = FixedNegatives.from_dataset(
                dataset, self.eval_negatives, int(self.config["seed"])
            )

    def fit(self, train_data, valid_data=None, *args, **kwargs):
        if self.evaluator.groups is None:
            self.set_popularity(train_data)
        return super().fit(train_data, valid_data, *args, **kwargs)

    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        if self.eval_negatives:
            if self.fixed_negatives is None:
                raise ValueError(
                    "eval_negatives: call trainer.set_eval_dataset(dataset) with the dataset before the split"
                )
            keep = self.fixed_negatives.candidate_mask(interaction[self.config["USER_ID_FIELD"]].cpu())
            keep[positive_u.cpu(), positive_i.cpu()] = True
            scores = scores.masked_fill(~keep.to(scores.device), -np.inf)
        if self.exclude_history:
            if self.seen_items is None:
                raise ValueError("eval_exclude_history: call trainer.set_popularity(train_data) before evaluating")
            users = interaction[self.config["USER_ID_FIELD"]].cpu()
            window = interaction[self.config["ITEM_ID_FIELD"] + self.config["LIST_SUFFIX"]]
            seen = self.seen_items.mask(users, window)
            seen[positive_u.cpu(), positive_i.cpu()] = False  # a repeated target stays a candidate
            scores = scores.masked_fill(seen.to(scores.device), -np.inf)
        return interaction, scores, positive_u, positive_i


class LongTailTrainer(
    LongTailEvaluationMixin,
    RecommendationLossMixin,
    RecBoleProgressMixin,
    DistributedTrainingMixin,
    CheckpointCompatMixin,
    Trainer,
):
    """RecBole's Trainer with long-tail evaluation, the training regime and loss asked for, and followable
    progress; loads its checkpoints under torch >= 2.6 and saves them atomically; trains under DDP
    on CPUs as well as GPUs."""
