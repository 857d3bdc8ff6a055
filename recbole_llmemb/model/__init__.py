"""LLMEmb variants of RecBole's sequential backbones."""

from .llmemb_bert4rec import LLMEmbBERT4Rec
from .llmemb_gru4rec import LLMEmbGRU4Rec
from .llmemb_sasrec import LLMEmbSASRec

__all__ = ["LLMEmbBERT4Rec", "LLMEmbGRU4Rec", "LLMEmbSASRec"]
