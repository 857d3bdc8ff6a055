"""The trainable adapter from the frozen LLM table to the recommender's item embedding."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..settings import EmbeddingSettings

# adapter_activation's choices: the layer each name puts between hidden layers.
ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class Adapter(nn.Sequential):
    """Stacked Linear layers ``in_dim -> hidden_dims... -> out_dim``.

    The paper's adapter is two Linear layers (``d -> d/2 -> hidden``) with no activation; that
    is one linear map. ``norm='layernorm'`` and an ``activation`` go between hidden layers.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int],
        activation: str,
        dropout: float,
        norm: str,
    ):
        dims = [in_dim, *hidden_dims, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                if norm == "layernorm":
                    layers.append(nn.LayerNorm(b))
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings, in_dim: int, out_dim: int) -> Adapter:
        """The adapter of ``adapter_hidden_dims`` (None: the paper's ``[in_dim // 2]``), activation,
        dropout and norm."""
        hidden_dims = [max(in_dim // 2, 1)] if settings.hidden_dims is None else list(settings.hidden_dims)
        return cls(
            in_dim,
            out_dim,
            hidden_dims=hidden_dims,
            activation=settings.activation,
            dropout=float(settings.dropout),
            norm=settings.norm,
        )
