"""Where RecBole's SASRec and the public CE SASRec of the amazon-beauty split differ: train the public
model's architecture in our pipeline (same data, split, regime, early stopping, evaluation).

The public model (MTandHJ/CE-SCE-LLMRec, SASRec/main.py, freerec 0.6.3) is the original SASRec
block: layer norm on the attention's query only, the residual around attention, a layer norm
before the position-wise feed-forward (hidden -> hidden, ReLU) and its residual, a final layer
norm; item vectors scaled by sqrt(d); Xavier-normal weights; sequences left-padded to the full
history length, so the newest item is always at the last position and attention also sees the
(zeroed) padding. RecBole's SASRec is post-LN (LayerNorm(x + sublayer(x))), normalises the
input embedding, has no final norm, initialises N(0, 0.02) and counts positions from the oldest
item of a right-padded sequence. ``--anchor_left_padding=False`` keeps everything else and counts
positions as RecBole does (padding never attended), to measure that one difference::

    python benchmarks/anchor_sasrec.py --dataset=amazon-beauty --config_files=converged --seed=2020 \\
        --learning_rate=0.0005 --weight_decay=1e-8

Prints the test rows (full and uni100) of the plain model; the checkpoint is cached like any plain
backbone's (``pretrained-AnchorSASRec-<key>.pth``). ``--llmemb`` trains LLMEmb on this architecture
instead, aligned to that plain model (add ``--llmemb_id_view=True`` for the ID view, an AnchorSASRec
as well).
"""

from __future__ import annotations

import argparse
import math

import torch
from recbole.model.sequential_recommender.sasrec import SASRec
from torch import nn

from recbole_llmemb.model import LLMEmbSASRec
from recbole_llmemb.quick_start import train_llmemb, train_plain
from recbole_llmemb.utils import register_model

# The public model's settings where RecBole's SASRec defaults differ (hidden 64, 2 blocks, ReLU agree).
ANCHOR_SETTINGS = {"inner_size": 64, "layer_norm_eps": 1e-8}
METRICS = ("hit@1", "hit@10", "ndcg@10", "tail_hit@10", "head_ndcg@10")


class AnchorBlock(nn.Module):
    """One block of the original SASRec: query-normalised causal attention, then a normalised FFN."""

    def __init__(self, size: int, inner: int, heads: int, dropout: float, attn_dropout: float, eps: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(size, eps=eps)
        self.attention = nn.MultiheadAttention(size, heads, dropout=attn_dropout, batch_first=True)
        self.feed_forward_norm = nn.LayerNorm(size, eps=eps)
        self.feed_forward = nn.Sequential(
            nn.Linear(size, inner), nn.Dropout(dropout), nn.ReLU(), nn.Linear(inner, size), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, causal: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        query = self.attention_norm(x)
        x = self.attention(query, x, x, attn_mask=causal, need_weights=False)[0] + x
        x = self.feed_forward_norm(x)
        x = self.feed_forward(x) + x
        return x.masked_fill(padding, 0.0)


class AnchorSASRec(SASRec):
    """RecBole's SASRec with the public CE SASRec's forward pass (module docstring); its item table,
    losses, prediction and data handling stay RecBole's."""

    backbone = SASRec  # RecBole's and this package's SASRec settings are its defaults

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.left_padding = str(config["anchor_left_padding"]) != "False"
        self.trm_encoder = nn.ModuleList(
            AnchorBlock(
                self.hidden_size, self.inner_size, self.n_heads, self.hidden_dropout_prob,
                self.attn_dropout_prob, self.layer_norm_eps,
            )  # fmt: skip
            for _ in range(self.n_layers)
        )
        self.final_norm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_normal_(module.weight)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():  # the public model scores no padding item; RecBole's scores row 0: start it at 0
            self.item_embedding.weight[0].zero_()

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        batch, width = item_seq.shape
        full = self.max_seq_length if self.left_padding else width
        steps = torch.arange(full, device=item_seq.device).unsqueeze(0)
        # Left padding to the full history length: column j holds item j - (full - len) of the row.
        shift = (full - item_seq_len).unsqueeze(1)
        source = (steps - shift).clamp(min=0, max=width - 1)
        real = steps >= shift
        if not self.left_padding:
            source, real = steps.expand(batch, -1), item_seq > 0
        items = item_seq.gather(1, source).masked_fill(~real, 0)
        padding = ~real.unsqueeze(-1)
        x = self.item_embedding(items) * math.sqrt(self.hidden_size) + self.position_embedding(steps)
        x = self.dropout(x).masked_fill(padding, 0.0)
        causal = torch.ones(full, full, dtype=torch.bool, device=x.device).triu(1)
        for block in self.trm_encoder:
            x = block(x, causal, padding)
        x = self.final_norm(x)
        if self.left_padding:  # back to RecBole's right-padded columns: the gather and the targets expect them
            back = (torch.arange(width, device=x.device).unsqueeze(0) + shift) % full
            x = x.gather(1, back.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self.gather_indexes(x, item_seq_len - 1)


class LLMEmbAnchorSASRec(LLMEmbSASRec, AnchorSASRec):
    """LLMEmb on the public architecture: its item table is adapter(LLM table), aligned to a plain
    :class:`AnchorSASRec`; with ``llmemb_id_view`` the ID view is an AnchorSASRec too."""

    backbone = AnchorSASRec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--llmemb", action="store_true", help="train LLMEmb on it (the plain model first)")
    args, rest = parser.parse_known_args()
    settings = {**ANCHOR_SETTINGS, "anchor_left_padding": True}
    settings.update(arg[2:].split("=", 1) for arg in rest)
    files = args.config_files.split(",") if args.config_files else None
    if args.llmemb:
        register_model(LLMEmbAnchorSASRec)
        result = train_llmemb("LLMEmbAnchorSASRec", args.dataset, files, settings)
    else:
        result = train_plain(AnchorSASRec, args.dataset, files, settings)
    print("| protocol | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for protocol, metrics in result["test_results"].items():
        print(f"| {protocol} | " + " | ".join(f"{metrics[m]:.4f}" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
