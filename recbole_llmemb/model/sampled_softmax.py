"""Sampled softmax with the log-Q correction (Yi et al., RecSys 2019): a training step scores each
target against the batch's targets and K shared negatives, not against every item.

The candidates are the distinct items among the batch's targets and K items drawn (with
replacement) from a proposal, uniform or popularity^beta. A candidate's logit is its score minus
the log of how often it is expected among the candidates, ``B * p_target(j) + K * q(j)``, which
removes the bias toward often-drawn items; as K grows the correction becomes the same for every
item and the loss tends to full cross-entropy. Duplicates are merged, so another row's target,
or a draw, equal to a row's own target is its positive and never a negative (an accidental hit).
With it an LLMEmb step adapts only the history and candidate rows, not the whole table.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import TrainingSettings
from .llm_item_embedding import batch_item_ids
from .sequence_loss import sequence_queries, sequence_targets


def query_vectors(
    model, interaction, every_position: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(queries [M, d], target ids [M], per-item output bias or None)`` of one training batch.

    SASRec / GRU4Rec-like models: one query per sequence, or with ``every_position`` one per real
    position (``train_regime: sequence``); BERT4Rec: one per masked position.
    """
    if hasattr(model, "MASK_ITEM_SEQ"):  # BERT4Rec: the masked positions, as its CE loss reads them
        masked_seq, masked_index = interaction[model.MASK_ITEM_SEQ], interaction[model.MASK_INDEX]
        outputs = model.forward(masked_seq)
        pick = model.multi_hot_embed(masked_index, masked_seq.size(-1)).view(*masked_index.shape, -1)
        queries = torch.bmm(pick, outputs).reshape(-1, outputs.shape[-1])
        targets = interaction[model.POS_ITEMS].reshape(-1)
        keep = targets > 0
        return queries[keep], targets[keep], model.output_bias
    if every_position:
        return (*sequence_queries(model, interaction), None)
    queries = model.forward(interaction[model.ITEM_SEQ], interaction[model.ITEM_SEQ_LEN])
    return queries, interaction[model.POS_ITEM_ID], None


class SampledSoftmaxLoss:
    """The sampled-softmax loss of ``model``'s training batches (a callable like ``calculate_loss``)."""

    def __init__(
        self,
        model,
        n_negatives: int,
        target_counts: np.ndarray,
        proposal: str = "uniform",
        beta: float = 1.0,
        every_position: bool = False,
    ):
        counts = torch.as_tensor(np.asarray(target_counts, dtype=np.float64))
        counts[0] = 0.0  # the padding id is never a candidate
        self.model, self.n_negatives = model, int(n_negatives)
        self.every_position = every_position and not hasattr(model, "MASK_ITEM_SEQ")
        self.target_share = counts / counts.sum()
        weights = counts.clamp(min=0).pow(beta) if proposal == "popularity" else torch.ones_like(counts)
        weights[0] = 0.0
        self.proposal = weights / weights.sum()

    @classmethod
    def from_config(cls, config, model, target_counts: np.ndarray) -> SampledSoftmaxLoss:
        settings = TrainingSettings.from_config(config)
        return cls(
            model,
            int(settings.sampled_softmax_negatives),
            target_counts,
            settings.sampled_softmax_proposal,
            float(settings.sampled_softmax_beta),
            every_position=settings.regime == "sequence",
        )

    def target_ids(self, interaction) -> torch.Tensor:
        """The batch's targets in the order of :func:`query_vectors`' queries."""
        model = self.model
        if hasattr(model, "MASK_ITEM_SEQ"):
            targets = interaction[model.POS_ITEMS].reshape(-1)
            return targets[targets > 0]
        if self.every_position:
            targets = sequence_targets(model, interaction)[2]
            return targets[targets > 0]
        return interaction[model.POS_ITEM_ID]

    def candidates(self, targets: torch.Tensor, negatives: torch.Tensor | None = None):
        """``(distinct candidate ids, each target's column, log expected count of each candidate)``."""
        if negatives is None:
            negatives = torch.multinomial(self.proposal.float(), self.n_negatives, replacement=True)
        negatives = negatives.to(targets.device)
        items, columns = torch.unique(torch.cat([targets, negatives]), return_inverse=True)
        expected = len(targets) * self.target_share[items.cpu()] + len(negatives) * self.proposal[items.cpu()]
        return items, columns[: len(targets)], expected.log().to(targets.device, torch.float32)

    def __call__(self, interaction) -> torch.Tensor:
        model, embedding = self.model, self.model.item_embedding
        targets = self.target_ids(interaction)
        items, columns, log_expected = self.candidates(targets)
        if getattr(embedding, "row_lookup", False):  # LLMEmb: adapt the batch's and candidate rows once
            embedding.prefetch(torch.cat([batch_item_ids(model, interaction), items]))
        if not len(targets):  # BERT4Rec masked nothing in this batch: nothing to learn from it
            return torch.zeros((), device=targets.device, requires_grad=True)
        queries, _, bias = query_vectors(model, interaction, self.every_position)
        logits = queries @ embedding(items).T - log_expected
        if bias is not None:
            logits = logits + bias[items]
        return F.cross_entropy(logits, columns)
