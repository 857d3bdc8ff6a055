"""LLMEmb-SASRec: RecBole's SASRec with the adapted LLM item table."""

from recbole.model.sequential_recommender.sasrec import SASRec

from .embedding_builder import build_llm_item_embedding


class LLMEmbSASRec(SASRec):
    """SASRec whose ``item_embedding`` is ``adapter(frozen LLM table)``, for input and scoring."""

    embedding_size_key = "hidden_size"  # config key of the item embedding width
    dropout_keys = ("hidden_dropout_prob", "attn_dropout_prob")  # what llmemb_dropout_prob sets
    backbone = SASRec

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.item_embedding = build_llm_item_embedding(config, dataset, config[self.embedding_size_key])
