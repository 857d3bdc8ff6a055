"""The model lookup: this plugin's LLMEmb classes first, then RecBole's (as RecBole-GNN does)."""

from __future__ import annotations

from recbole.utils import get_model as recbole_get_model

from .llmemb_bert4rec import LLMEmbBERT4Rec
from .llmemb_gru4rec import LLMEmbGRU4Rec
from .llmemb_sasrec import LLMEmbSASRec

LLMEMB_MODELS = {cls.__name__: cls for cls in (LLMEmbSASRec, LLMEmbGRU4Rec, LLMEmbBERT4Rec)}
BACKBONES = {cls.backbone.__name__: cls for cls in LLMEMB_MODELS.values()}


def register_model(model_class) -> None:
    """Make an LLMEmb subclass of another RecBole backbone known to the lookups, the API and the CLI's run.

    ``model_class`` needs ``backbone`` (the RecBole class it extends) and ``embedding_size_key``.
    """
    for attribute in ("backbone", "embedding_size_key"):
        if not hasattr(model_class, attribute):
            raise ValueError(
                f"{model_class.__name__}: an LLMEmb model class needs the attribute '{attribute}'"
            )
    LLMEMB_MODELS[model_class.__name__] = model_class
    BACKBONES[model_class.backbone.__name__] = model_class


def get_model(model_name: str):
    """Class of ``model_name``: an LLMEmb model of this package, else RecBole's own."""
    if model_name in LLMEMB_MODELS:
        return LLMEMB_MODELS[model_name]
    return recbole_get_model(model_name)


def llmemb_class(model_name: str):
    """The LLMEmb class of a backbone name (``SASRec``) or of its own name (``LLMEmbSASRec``)."""
    if model_name in LLMEMB_MODELS:
        return LLMEMB_MODELS[model_name]
    if model_name in BACKBONES:
        return BACKBONES[model_name]
    raise ValueError(
        f"--model: '{model_name}' is not one of {sorted(BACKBONES)} (the comparison) or"
        f" {sorted(LLMEMB_MODELS)} (LLMEmb alone)"
    )
