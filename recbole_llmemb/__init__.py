"""LLMEmb (Liu et al., AAAI 2025) as a RecBole 1.2.1 plugin."""

from . import compat

compat.apply()

from .config import LLMEmbConfig  # noqa: E402
from .utils import BACKBONES, LLMEMB_MODELS, get_model, get_trainer  # noqa: E402

__all__ = ["BACKBONES", "LLMEMB_MODELS", "LLMEmbConfig", "get_model", "get_trainer"]
__version__ = "0.1.0"
