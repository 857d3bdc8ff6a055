"""Trainers: the base trainer of every model (long-tail evaluation, its hooks), and LLMEmb's RAT trainer."""

from .longtail_trainer import LongTailTrainer
from .rat_trainer import RATTrainer

__all__ = ["LongTailTrainer", "RATTrainer"]
