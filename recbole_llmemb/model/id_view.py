"""The ID view of the "LLMEmb + ID view" variant (``llmemb_id_view: True``): not the method.

LLM-ESR (Liu et al., NeurIPS 2024) keeps a trainable ID view beside the LLM view: two sequence
encoders, one over ID embeddings and one over the adapted LLM embeddings, and an item's score
is the sum of the two views' dot products. Removing the ID view cost it 9.3% NDCG@10, and
initialising its ID embeddings randomly instead of from the PCA'd LLM table 5.3%.
"""

from __future__ import annotations

import torch
from recbole.model.sequential_recommender.sasrec import SASRec
from torch import nn

from ..config import config_get
from ..settings import TrainingSettings
from .variants import residual_from_table


class IDView(nn.Module):
    """A SASRec of its own (ID item table, positions, blocks; ``encoder_class``, RecBole's by default)
    beside an LLMEmb-SASRec.

    ``init='table'`` starts each item's ID vector at its first ``hidden_size`` standardised PCA
    components x ``initializer_range`` (RecBole's init scale); ``'random'`` keeps RecBole's init.
    """

    def __init__(self, config, dataset, table: torch.Tensor, init: str, encoder_class: type = SASRec):
        super().__init__()
        if TrainingSettings.from_config(config).sampled_softmax_negatives > 0:
            raise ValueError(
                "llmemb_id_view: scores every item through both views; set sampled_softmax_negatives: 0"
            )
        self.encoder = encoder_class(config, dataset)
        if init == "table":
            start = residual_from_table(table, self.encoder.item_embedding.weight.shape[1], init_scale(config))
            start[0] = 0.0
            with torch.no_grad():
                self.encoder.item_embedding.weight.copy_(start)

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward(item_seq, item_seq_len)

    @property
    def weight(self) -> torch.Tensor:
        return self.encoder.item_embedding.weight


def init_scale(config) -> float:
    """RecBole's ``initializer_range`` (0.02 where the backbone's YAML has none: GRU4Rec)."""
    return float(config_get(config, "initializer_range", 0.02))
