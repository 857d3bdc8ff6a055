"""Trainers: RecBole's Trainer with the checkpoint fix, and the RAT trainer of LLMEmb."""

from __future__ import annotations

import numpy as np
import torch
from recbole.trainer import Trainer

from .alignment import alignment_loss
from .compat import CheckpointCompatMixin, load_recbole_checkpoint
from .config import config_get
from .longtail_evaluator import LongTailCollector, LongTailEvaluator
from .popularity import PopularityGroups, training_history_lengths, training_item_popularity
from .sampled_negatives import FixedNegatives


class LongTailEvaluationMixin:
    """Trainer mixin: long-tail metrics in every evaluation, and the fixed sampled protocol.

    Popularity groups come from the training split given to ``fit`` (or ``set_popularity``);
    ``eval_negatives: N`` ranks each target against N fixed negatives drawn from the dataset
    given to ``set_eval_dataset`` (the dataset before the split).
    """

    def __init__(self, config, model, *args, **kwargs):
        super().__init__(config, model, *args, **kwargs)
        self.eval_collector = LongTailCollector(config)
        self.evaluator = LongTailEvaluator(config)
        self.eval_negatives = int(config_get(config, "eval_negatives", 0))
        self.fixed_negatives: FixedNegatives | None = None

    def set_popularity(self, train_data) -> PopularityGroups:
        """Tail / head / groups from the training split's item popularity."""
        popularity = training_item_popularity(train_data.dataset, self.model.n_items)
        self.evaluator.groups = PopularityGroups.from_config(self.config, popularity)
        self.evaluator.history_lengths = training_history_lengths(
            train_data.dataset, train_data.dataset.user_num
        )
        return self.evaluator.groups

    def set_eval_dataset(self, dataset) -> None:
        """The dataset before the split: every user's items, excluded from the sampled negatives."""
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
        return interaction, scores, positive_u, positive_i


class CompatTrainer(LongTailEvaluationMixin, CheckpointCompatMixin, Trainer):
    """RecBole's Trainer with long-tail evaluation, able to load its checkpoints under torch >= 2.6."""


def pretrained_item_embedding(checkpoint_file: str, n_items: int) -> torch.Tensor:
    """Item rows ``[n_items, d]`` of a plain backbone's checkpoint (BERT4Rec's mask row dropped)."""
    state = load_recbole_checkpoint(checkpoint_file)["state_dict"]
    if "item_embedding.weight" not in state:
        raise KeyError(f"pretrained_srs_file: {checkpoint_file} has no item_embedding.weight")
    weight = state["item_embedding.weight"][:n_items]
    if weight.shape[0] != n_items:
        raise ValueError(
            f"pretrained_srs_file: {checkpoint_file} has {weight.shape[0]} items, dataset has"
            f" {n_items}; train the plain backbone on the same dataset"
        )
    return weight.float()


# Model attributes naming the item-id fields a training batch may look up (BERT4Rec: the last three).
LOOKUP_FIELDS = ("ITEM_SEQ", "ITEM_ID", "NEG_ITEM_ID", "MASK_ITEM_SEQ", "POS_ITEMS", "NEG_ITEMS")


class RATTrainer(CompatTrainer):
    """Recommendation adaptation training: loss = backbone loss + ``align_weight`` * alignment.

    The alignment target is the item table of the pretrained plain backbone
    (``pretrained_srs_file``), fixed; it pulls the adapter outputs of the batch's items
    (history and targets) towards their collaborative vectors. Both parts are logged.
    """

    def __init__(self, config, model, align_target: torch.Tensor | None = None):
        super().__init__(config, model)
        self.align_weight = float(config["align_weight"] or 0.0)
        self.align_temperature = float(config["align_temperature"] or 1.0)
        self.align_similarity = config["align_similarity"] or "cosine"
        if self.align_weight > 0 and align_target is None:
            checkpoint = config["pretrained_srs_file"]
            if not checkpoint:
                raise ValueError(
                    "pretrained_srs_file: align_weight > 0 needs the plain backbone's checkpoint;"
                    " run the full pipeline or set align_weight: 0"
                )
            align_target = pretrained_item_embedding(checkpoint, model.n_items)
        self.align_target = None if align_target is None else align_target.to(self.device)

    def _build_optimizer(self, **kwargs):
        """RecBole's optimizer; with ``adapter_learning_rate`` the adapter gets a group of its own."""
        adapter_lr = config_get(self.config, "adapter_learning_rate")
        embedding = getattr(self.model, "item_embedding", None)
        if adapter_lr is None or "params" in kwargs or not hasattr(embedding, "adapter"):
            return super()._build_optimizer(**kwargs)
        adapter_ids = {id(p) for p in embedding.adapter.parameters()}
        rest = [p for p in self.model.parameters() if id(p) not in adapter_ids]
        groups = [{"params": rest}, {"params": list(embedding.adapter.parameters()), "lr": float(adapter_lr)}]
        return super()._build_optimizer(params=groups, **kwargs)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        return super()._train_epoch(
            train_data, epoch_idx, loss_func=loss_func or self.rat_loss, show_progress=show_progress
        )

    def rat_loss(self, interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """``(backbone loss, align_weight * alignment loss)`` for one batch."""
        embedding = self.model.item_embedding
        row_lookup = getattr(embedding, "row_lookup", False)
        if row_lookup:
            # One adapter pass over the batch's distinct items serves every lookup of this step.
            fields = {getattr(self.model, name) for name in LOOKUP_FIELDS if hasattr(self.model, name)}
            embedding.prefetch(
                torch.cat([interaction[f].flatten() for f in sorted(fields) if f in interaction])
            )
        rec_loss = self.model.calculate_loss(interaction)
        if self.align_target is None or self.align_weight == 0:
            return rec_loss, rec_loss.new_zeros(())
        items = torch.cat([interaction[self.model.ITEM_SEQ].flatten(), interaction[self.model.ITEM_ID]])
        items = torch.unique(items)
        items = items[items > 0]
        # Indexing .weight (not the lookup) under CE keeps recorded CE runs bit-reproducible.
        adapted = embedding(items) if row_lookup else embedding.weight[items]
        align = alignment_loss(
            adapted, self.align_target[items], self.align_temperature, self.align_similarity
        )
        return rec_loss, self.align_weight * align
