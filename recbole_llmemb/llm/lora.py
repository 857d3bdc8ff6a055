"""LoRA on the LLM's projections (peft), optionally on its last decoder layers only."""

from __future__ import annotations

import re

from ..settings import SCFTSettings


def lora_model(model, settings: SCFTSettings):
    """``model`` wrapped by peft with LoRA on ``lora_target_modules``; base weights frozen."""
    from peft import LoraConfig, get_peft_model

    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    missing = [m for m in settings.lora_target_modules if m not in names]
    if missing:
        raise ValueError(
            f"scft_lora_target_modules: {missing} are not modules of this LLM; choose from its"
            f" Linear layers, e.g. {sorted(n for n in names if n.endswith('proj'))}"
        )
    targets: list[str] = list(settings.lora_target_modules)
    if settings.lora_layers > 0:
        # Name the modules of the last layers explicitly: peft's layers_to_transform needs a layer pattern.
        found = {
            int(m.group(1)) for m in (re.search(r"layers\.(\d+)\.", n) for n, _ in model.named_modules()) if m
        }
        if not found:
            raise ValueError("scft_lora_layers: no 'layers.<i>.' modules in this LLM; set it to 0")
        last = set(sorted(found)[-settings.lora_layers :])
        targets = [
            name
            for name, _ in model.named_modules()
            if name.split(".")[-1] in settings.lora_target_modules
            and (m := re.search(r"layers\.(\d+)\.", name))
            and int(m.group(1)) in last
        ]
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return get_peft_model(model, config)
