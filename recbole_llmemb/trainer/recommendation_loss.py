"""The backbone loss of a training batch under ``train_regime`` and the loss settings, for plain
backbones and LLMEmb models alike."""

from __future__ import annotations

import torch

from ..evaluation.popularity import training_item_popularity
from ..model.sampled_softmax import SampledSoftmaxLoss
from ..model.sequence_loss import SequenceCrossEntropy
from ..settings import TrainingSettings


class RecommendationLoss:
    """The sampled softmax when ``sampled_softmax_negatives > 0``, else full CE at every position under
    ``train_regime: sequence`` (a masked model, BERT4Rec, masks inside its own loss), else the
    model's own ``calculate_loss``. Called on one batch; :meth:`build` first."""

    def __init__(self, config, model):
        self.config = config
        self.model = model
        self.sampled_softmax: SampledSoftmaxLoss | None = None
        self.sequence_loss: SequenceCrossEntropy | None = None

    @property
    def train_regime(self) -> str:
        """``prefix``: RecBole's prefix rows; ``sequence``: each user's whole sequence once."""
        return TrainingSettings.from_config(self.config).regime

    def every_position(self) -> bool:
        """Whether the loss is taken at every position of a sequence (not for a masked model)."""
        return self.train_regime == "sequence" and not hasattr(self.model, "MASK_ITEM_SEQ")

    def build(self, train_data) -> None:
        """The sampled softmax from ``train_data``'s target counts (RecBole's prefix rows: build before
        the sequence regime replaces them), or the every-position CE; once, later calls keep them."""
        negatives = TrainingSettings.from_config(self.config).sampled_softmax_negatives
        if self.sampled_softmax is None and negatives > 0:
            if self.config["loss_type"] != "CE":
                raise ValueError(
                    f"sampled_softmax_negatives: replaces the CE loss; loss_type is {self.config['loss_type']}:"
                    " set loss_type: CE (and train_neg_sample_args: ~) or sampled_softmax_negatives: 0"
                )
            counts = training_item_popularity(train_data.dataset, self.model.n_items)
            self.sampled_softmax = SampledSoftmaxLoss.from_config(self.config, self.model, counts)
        if self.sampled_softmax is None and self.sequence_loss is None and self.every_position():
            self.sequence_loss = SequenceCrossEntropy(self.model)

    def __call__(self, interaction) -> torch.Tensor:
        loss = self.sampled_softmax or self.sequence_loss or self.model.calculate_loss
        return loss(interaction)
