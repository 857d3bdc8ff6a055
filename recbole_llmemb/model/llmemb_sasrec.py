"""LLMEmb-SASRec: RecBole's SASRec with the adapted LLM item table."""

import torch
from recbole.model.sequential_recommender.sasrec import SASRec

from ..settings import LLMEmbModelSettings
from .embedding_builder import build_llm_item_embedding
from .id_view import IDView


class LLMEmbSASRec(SASRec):
    """SASRec whose ``item_embedding`` is ``adapter(frozen LLM table)``, for input and scoring.

    With ``llmemb_id_view: True`` (a variant, not the method) a second SASRec over ID embeddings
    runs beside it (:class:`~recbole_llmemb.model.id_view.IDView`): the sequence vector and the item
    vectors are the two views' concatenated, so a score is the sum of the two views' scores.
    """

    embedding_size_key = "hidden_size"  # config key of the item embedding width
    dropout_keys = ("hidden_dropout_prob", "attn_dropout_prob")  # what llmemb_dropout_prob sets
    backbone = SASRec

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.item_embedding = build_llm_item_embedding(config, dataset, config[self.embedding_size_key])
        self.id_view = None
        settings = LLMEmbModelSettings.from_config(config)
        if settings.id_view:
            self.id_view = IDView(
                config, dataset, self.item_embedding.table, settings.id_view_init, self.backbone
            )

    def forward(self, item_seq, item_seq_len):
        output = super().forward(item_seq, item_seq_len)
        if self.id_view is None:
            return output
        return torch.cat([output, self.id_view(item_seq, item_seq_len)], dim=-1)

    def scoring_table(self) -> torch.Tensor:
        """``[n_items, d]`` item vectors a sequence vector is scored against (both views' with the ID view)."""
        if self.id_view is None:
            return self.item_embedding.weight
        return torch.cat([self.item_embedding.weight, self.id_view.weight], dim=-1)

    def calculate_loss(self, interaction):
        if self.id_view is None:
            return super().calculate_loss(interaction)
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        table, pos_items = self.scoring_table(), interaction[self.POS_ITEM_ID]
        if self.loss_type == "BPR":
            pos_score = (seq_output * table[pos_items]).sum(-1)
            neg_score = (seq_output * table[interaction[self.NEG_ITEM_ID]]).sum(-1)
            return self.loss_fct(pos_score, neg_score)
        return self.loss_fct(seq_output @ table.T, pos_items)

    def predict(self, interaction):
        if self.id_view is None:
            return super().predict(interaction)
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return (seq_output * self.scoring_table()[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        if self.id_view is None:
            return super().full_sort_predict(interaction)
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return seq_output @ self.scoring_table().T
