"""SCFT, the LoRA contrastive fine-tuning of the LLM (``scft_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..option_rules import POSITIVE, PROBABILITY, boolean, integer, number, optional, strings
from .declaration import Effect, SettingsGroup, setting
from .table import POOLING


@dataclass
class SCFTSettings(SettingsGroup):
    """Every ``scft_*`` setting but ``scft`` and ``scft_dtype`` (the table stage's); ``key()`` holds
    the ones that change the fine-tuned weights."""

    llmemb_only = True

    drop_ratio: float = setting(PROBABILITY, key="scft_drop_ratio")  # authors: int(n * 0.4) dropped
    fresh_views: bool = setting(boolean, key="scft_fresh_views")
    temperature: float = setting(POSITIVE, key="scft_temperature")
    learnable_temperature: bool = setting(boolean, key="scft_learnable_temperature")
    exclude_positive: bool = setting(boolean, key="scft_exclude_positive")
    lora_r: int = setting(integer(1), key="scft_lora_r")
    lora_alpha: int = setting(POSITIVE, key="scft_lora_alpha")
    lora_dropout: float = setting(PROBABILITY, key="scft_lora_dropout")
    lora_target_modules: list[str] = setting(strings, key="scft_lora_target_modules")
    lora_layers: int = setting(integer(0), key="scft_lora_layers")  # > 0: the last N decoder layers
    learning_rate: float = setting(POSITIVE, key="scft_learning_rate")
    weight_decay: float = setting(number(0), key="scft_weight_decay")
    warmup_ratio: float = setting(number(0, 1, high_open=False), key="scft_warmup_ratio")
    batch_size: int = setting(integer(2), key="scft_batch_size")  # in-batch negatives need 2 items
    gradient_accumulation: int = setting(integer(1), key="scft_gradient_accumulation")
    max_length: int = setting(integer(1), key="scft_max_length")
    epochs: int = setting(integer(0), key="scft_epochs")
    max_steps: int = setting(integer(0), key="scft_max_steps")  # > 0 wins over epochs
    # Recomputed activations give the same steps up to float rounding (tests/test_scft.py), not bit for bit.
    gradient_checkpointing: bool = setting(boolean, key="scft_gradient_checkpointing")
    seed: int = setting(optional(integer(0)), key="scft_seed", fallback="seed")
    pooling: str = setting(POOLING, key="llm_pooling", mirror=True)  # SCFT trains the table's vector
    checkpoint_every: int = setting(integer(1), key="scft_checkpoint_every", effect=Effect.RUNTIME)
    eval_items: int = setting(integer(0), key="scft_eval_items", effect=Effect.RUNTIME)  # a diagnostic

    def check(self) -> None:
        if self.epochs < 1 and self.max_steps < 1:
            raise ValueError("scft_epochs / scft_max_steps: one of them must be at least 1")
