"""LLMEmb (Liu et al., AAAI 2025) as a RecBole 1.2.1 plugin."""

from . import compat

compat.apply()

from .cold_start import run_cold_items  # noqa: E402
from .config import LLMEmbConfig  # noqa: E402
from .model.add_items import add_items, load_extended_model  # noqa: E402
from .quick_start import (  # noqa: E402
    build_table,
    compare,
    make_config,
    objective_function,
    run,
    run_scft,
    train_llmemb,
    train_plain,
)
from .utils import BACKBONES, LLMEMB_MODELS, get_model, get_trainer, register_model  # noqa: E402

__all__ = [
    "BACKBONES",
    "add_items",
    "load_extended_model",
    "LLMEMB_MODELS",
    "LLMEmbConfig",
    "build_table",
    "compare",
    "get_model",
    "get_trainer",
    "make_config",
    "objective_function",
    "register_model",
    "run",
    "run_cold_items",
    "run_scft",
    "train_llmemb",
    "train_plain",
]
__version__ = "0.2.0"
