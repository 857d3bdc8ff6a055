"""LLMEmb-BERT4Rec: RecBole's BERT4Rec with the adapted LLM item table."""

from recbole.model.sequential_recommender.bert4rec import BERT4Rec

from .embedding_builder import build_llm_item_embedding


class LLMEmbBERT4Rec(BERT4Rec):
    """BERT4Rec whose item rows are ``adapter(frozen LLM table)``; the [mask] row stays trainable."""

    embedding_size_key = "hidden_size"  # config key of the item embedding width
    dropout_keys = ("hidden_dropout_prob", "attn_dropout_prob")  # what llmemb_dropout_prob sets
    backbone = BERT4Rec

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        # RecBole's BERT4Rec keeps the mask token as the last row (index n_items).
        self.item_embedding = build_llm_item_embedding(
            config, dataset, config[self.embedding_size_key], n_extra_tokens=1
        )
