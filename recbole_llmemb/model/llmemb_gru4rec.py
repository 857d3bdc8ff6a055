"""LLMEmb-GRU4Rec: RecBole's GRU4Rec with the adapted LLM item table."""

from recbole.model.sequential_recommender.gru4rec import GRU4Rec

from .embedding_builder import build_llm_item_embedding


class LLMEmbGRU4Rec(GRU4Rec):
    """GRU4Rec whose ``item_embedding`` is ``adapter(frozen LLM table)``, for input and scoring."""

    embedding_size_key = "embedding_size"  # config key of the item embedding width
    dropout_keys = ("dropout_prob",)  # what llmemb_dropout_prob sets
    backbone = GRU4Rec

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.item_embedding = build_llm_item_embedding(config, dataset, config[self.embedding_size_key])
