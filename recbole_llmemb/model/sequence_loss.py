"""Cross-entropy at every position of a causal backbone's sequence (``train_regime: sequence``).

RecBole's SASRec and GRU4Rec return only the last position from ``forward`` (``gather_indexes``);
their layers are causal and their sequences right-padded, so position ``k``'s output is the
output of the prefix of length ``k + 1``. Reading every position serves every prefix in one pass.
The model classes stay RecBole's: only the final gather is skipped for the call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def every_position_outputs(model, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
    """``[B, L, d]``: ``model.forward`` at every position instead of the last one (of every RecBole
    model inside it too: an ID view's encoder)."""
    gathering = [m for m in model.modules() if hasattr(m, "gather_indexes")]
    for module in gathering:  # an instance attribute shadows the method
        module.gather_indexes = lambda output, gather_index: output
    try:
        return model.forward(item_seq, item_seq_len)
    finally:
        for module in gathering:
            del module.gather_indexes


def scoring_table(model) -> torch.Tensor:
    """The item vectors ``model`` scores a sequence vector against (RecBole's: its item table)."""
    table = getattr(model, "scoring_table", None)
    return table() if callable(table) else model.item_embedding.weight


def next_item_targets(
    item_seq: torch.Tensor, item_seq_len: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """``[B, L]``: the item each position predicts (the next one; the row's target after the last); 0 on padding."""
    nxt = torch.cat([item_seq[:, 1:], torch.zeros_like(item_seq[:, :1])], dim=1)
    nxt[torch.arange(item_seq.shape[0], device=item_seq.device), item_seq_len - 1] = target
    positions = torch.arange(item_seq.shape[1], device=item_seq.device)
    return nxt.masked_fill(positions.unsqueeze(0) >= item_seq_len.unsqueeze(1), 0)


def sequence_targets(model, interaction) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(item_seq, item_seq_len, targets [B, L])`` of a batch, the columns past its longest sequence cut:
    they are padding, and with right padding and absolute positions from the left the outputs of
    the real positions do not change."""
    item_seq_len = interaction[model.ITEM_SEQ_LEN]
    item_seq = interaction[model.ITEM_SEQ][:, : int(item_seq_len.max())]
    return item_seq, item_seq_len, next_item_targets(item_seq, item_seq_len, interaction[model.POS_ITEM_ID])


def sequence_queries(model, interaction) -> tuple[torch.Tensor, torch.Tensor]:
    """``(queries [M, d], targets [M])``: one per real position of the batch's sequences."""
    item_seq, item_seq_len, targets = sequence_targets(model, interaction)
    outputs = every_position_outputs(model, item_seq, item_seq_len)
    real = targets > 0
    return outputs[real], targets[real]


class SequenceCrossEntropy:
    """RecBole's CE loss (softmax over every row of ``item_embedding.weight``), at every position."""

    def __init__(self, model):
        if getattr(model, "loss_type", "CE") != "CE":
            raise ValueError(
                f"train_regime: sequence trains with CE (or the sampled softmax); loss_type is {model.loss_type}:"
                " set loss_type: CE and train_neg_sample_args: ~, or train_regime: prefix"
            )
        self.model = model

    def __call__(self, interaction) -> torch.Tensor:
        queries, targets = sequence_queries(self.model, interaction)
        logits = queries @ scoring_table(self.model).T
        device = logits.device.type
        if torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device) == torch.bfloat16:
            # Autocast would upcast the [positions, items] logits for the softmax; kept in bfloat16
            # its memory traffic, most of a CPU step, halves.
            with torch.autocast(device, enabled=False):
                return F.cross_entropy(logits, targets)
        return F.cross_entropy(logits, targets)
