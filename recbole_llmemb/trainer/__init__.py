"""Trainers: the long-tail evaluation trainer of every model, and LLMEmb's RAT trainer."""

from .longtail_trainer import LongTailEvaluationMixin, LongTailTrainer
from .rat_trainer import RATTrainer

__all__ = ["LongTailEvaluationMixin", "LongTailTrainer", "RATTrainer"]
