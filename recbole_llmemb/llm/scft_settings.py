"""The ``scft_*`` options of SCFT, read from a RecBole Config and validated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import config_get
from .pooling import check_pooling

LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class SCFTSettings:
    """Every ``scft_*`` option; ``key()`` hashes the ones that change the fine-tuned weights."""

    drop_ratio: float = 0.4  # share of an item's attributes dropped per view (authors: int(n * 0.4))
    fresh_views: bool = True  # new views every epoch; False draws them once, as the authors do
    temperature: float = 0.05
    learnable_temperature: bool = False
    exclude_positive: bool = True  # method page: the positive is not in the denominator
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: list[str] = field(default_factory=lambda: list(LLAMA_PROJECTIONS))
    lora_layers: int = 0  # > 0: LoRA on the last N decoder layers only (backward stops there: cheaper)
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    batch_size: int = 16
    gradient_accumulation: int = 1
    max_length: int = 64
    epochs: int = 1
    max_steps: int = 0  # > 0: stop after this many optimiser steps (wins over epochs)
    gradient_checkpointing: bool = False
    seed: int = 2020  # from scft_seed (RecBole's seed when unset)
    pooling: str = "mean"  # from llm_pooling: SCFT trains the vector the table is built from
    checkpoint_every: int = 20  # runtime only: not in the key
    eval_items: int = 512  # runtime only: items in the view-retrieval check

    _RUNTIME = ("checkpoint_every", "eval_items")

    @classmethod
    def from_config(cls, config) -> SCFTSettings:
        """Read ``scft_<name>`` for every field (``scft_seed`` falls back to RecBole's ``seed``); validated."""
        values = {}
        for f in dataclasses.fields(cls):
            value = config_get(config, f"scft_{f.name}")
            if value is None and f.name == "seed":
                value = config_get(config, "seed")
            if f.name == "pooling":
                value = config_get(config, "llm_pooling")
            if value is not None:
                values[f.name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.drop_ratio < 1:
            raise ValueError(f"scft_drop_ratio: must be in [0, 1), got {self.drop_ratio}")
        if self.batch_size < 2:
            raise ValueError(
                f"scft_batch_size: in-batch negatives need at least 2 items, got {self.batch_size}"
            )
        if self.temperature <= 0:
            raise ValueError(f"scft_temperature: must be > 0, got {self.temperature}")
        if self.epochs < 1 and self.max_steps < 1:
            raise ValueError("scft_epochs / scft_max_steps: one of them must be at least 1")
        if self.gradient_accumulation < 1:
            raise ValueError(f"scft_gradient_accumulation: must be >= 1, got {self.gradient_accumulation}")
        check_pooling(self.pooling)

    def key(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self._RUNTIME}
