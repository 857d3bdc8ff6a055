"""get_model, get_trainer and register_model where RecBole-GNN keeps them; they live in the stage folders.

The model lookup is ``model/registry.py`` (LLMEMB_MODELS, BACKBONES, register_model, get_model,
llmemb_class), the trainer lookup ``trainer/lookup.py`` (get_trainer): the trainer folder picks its
trainer without importing anything above it."""

from __future__ import annotations

from .model.registry import BACKBONES, LLMEMB_MODELS, get_model, llmemb_class, register_model
from .trainer.lookup import get_trainer

__all__ = ["BACKBONES", "LLMEMB_MODELS", "get_model", "get_trainer", "llmemb_class", "register_model"]
