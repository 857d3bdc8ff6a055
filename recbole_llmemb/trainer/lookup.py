"""The trainer lookup: RATTrainer for LLMEmb models, else RecBole's choice with LongTailTrainer for its plain Trainer."""

from __future__ import annotations

from recbole.utils import get_trainer as recbole_get_trainer

from ..model import registry
from .longtail_trainer import LongTailTrainer
from .rat_trainer import RATTrainer


def get_trainer(model_type, model_name: str):
    """RATTrainer for LLMEmb models; for RecBole's models the trainer RecBole picks, with long-tail
    evaluation and the checkpoint fix when that is the plain ``Trainer``."""
    if model_name in registry.LLMEMB_MODELS:
        return RATTrainer
    trainer = recbole_get_trainer(model_type, model_name)
    return LongTailTrainer if trainer.__name__ == "Trainer" else trainer
