"""What an epoch trains on and with which loss, for plain and LLMEmb models alike."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import integer, number, one_of
from .declaration import SettingsGroup, setting

REGIMES = ("prefix", "sequence")
PROPOSALS = ("uniform", "popularity")


@dataclass
class TrainingSettings(SettingsGroup):
    """``train_regime``, ``sequence_bucket_batches`` and the sampled softmax."""

    regime: str = setting(one_of(*REGIMES), key="train_regime")
    bucket_batches: int = setting(integer(0), key="sequence_bucket_batches")
    sampled_softmax_negatives: int = setting(integer(0), key="sampled_softmax_negatives")
    sampled_softmax_proposal: str = setting(one_of(*PROPOSALS), key="sampled_softmax_proposal")
    sampled_softmax_beta: float = setting(number(0), key="sampled_softmax_beta")
