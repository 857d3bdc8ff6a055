"""Trainer mixin: what an epoch trains on (``train_regime``) and the loss of a batch, for plain
backbones and LLMEmb models alike."""

from __future__ import annotations

from ..data.sequence_examples import sequence_train_data
from ..evaluation.popularity import training_item_popularity
from ..model.sampled_softmax import SampledSoftmaxLoss
from ..model.sequence_loss import SequenceCrossEntropy
from ..settings import TrainingSettings


class RecommendationLossMixin:
    """``train_regime: sequence`` trains each user's sequence once with the loss at every position
    (a masked model, BERT4Rec, masks inside it); ``prefix`` trains RecBole's prefix rows. The loss
    is the sampled softmax when ``sampled_softmax_negatives > 0``, else full CE (at every position
    under ``sequence``), else the model's own ``calculate_loss``."""

    sampled_softmax: SampledSoftmaxLoss | None = None
    sequence_loss: SequenceCrossEntropy | None = None

    @property
    def train_regime(self) -> str:
        return TrainingSettings.from_config(self.config).regime

    def _every_position(self) -> bool:
        return self.train_regime == "sequence" and not hasattr(self.model, "MASK_ITEM_SEQ")

    def _build_losses(self, train_data) -> None:
        """The sampled softmax from the training split's target counts (RecBole's prefix rows)."""
        negatives = TrainingSettings.from_config(self.config).sampled_softmax_negatives
        if self.sampled_softmax is None and negatives > 0:
            if self.config["loss_type"] != "CE":
                raise ValueError(
                    f"sampled_softmax_negatives: replaces the CE loss; loss_type is {self.config['loss_type']}:"
                    " set loss_type: CE (and train_neg_sample_args: ~) or sampled_softmax_negatives: 0"
                )
            counts = training_item_popularity(train_data.dataset, self.model.n_items)
            self.sampled_softmax = SampledSoftmaxLoss.from_config(self.config, self.model, counts)
        if self.sampled_softmax is None and self.sequence_loss is None and self._every_position():
            self.sequence_loss = SequenceCrossEntropy(self.model)

    def fit(self, train_data, valid_data=None, *args, **kwargs):
        self._build_losses(train_data)
        if self.train_regime == "sequence":
            train_data = sequence_train_data(train_data, self.model)
        return super().fit(train_data, valid_data, *args, **kwargs)

    def recommendation_loss(self, interaction):
        """The backbone's loss of one batch under this trainer's regime and loss settings."""
        loss = self.sampled_softmax or self.sequence_loss or self.model.calculate_loss
        return loss(interaction)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._build_losses(train_data)
        return super()._train_epoch(
            train_data,
            epoch_idx,
            loss_func=loss_func or self.recommendation_loss,
            show_progress=show_progress,
        )
