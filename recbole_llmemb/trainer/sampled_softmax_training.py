"""Trainer mixin: train with the sampled softmax (``sampled_softmax_negatives > 0``) instead of
RecBole's full cross-entropy, for plain backbones and LLMEmb models alike."""

from __future__ import annotations

from ..config import config_get
from ..evaluation.popularity import training_item_popularity
from ..model.sampled_softmax import SampledSoftmaxLoss


class SampledSoftmaxMixin:
    """Builds the loss from the training split's target counts at the first epoch."""

    sampled_softmax: SampledSoftmaxLoss | None = None

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.sampled_softmax is None and int(config_get(self.config, "sampled_softmax_negatives", 0)) > 0:
            if self.config["loss_type"] != "CE":
                raise ValueError(
                    f"sampled_softmax_negatives: replaces the CE loss; loss_type is {self.config['loss_type']}:"
                    " set loss_type: CE (and train_neg_sample_args: ~) or sampled_softmax_negatives: 0"
                )
            counts = training_item_popularity(train_data.dataset, self.model.n_items)
            self.sampled_softmax = SampledSoftmaxLoss.from_config(self.config, self.model, counts)
        return super()._train_epoch(
            train_data, epoch_idx, loss_func=loss_func or self.sampled_softmax, show_progress=show_progress
        )
