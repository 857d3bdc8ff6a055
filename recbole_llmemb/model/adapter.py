"""The trainable adapter from the frozen LLM table to the recommender's item embedding."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..config import config_get

ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
NORMS = ("none", "layernorm")


class Adapter(nn.Sequential):
    """Stacked Linear layers ``in_dim -> hidden_dims... -> out_dim``.

    The paper's adapter is two Linear layers (``d -> d/2 -> hidden``) with no activation; that
    is one linear map. ``norm='layernorm'`` and an ``activation`` go between hidden layers.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (),
        activation: str = "none",
        dropout: float = 0.0,
        norm: str = "none",
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"adapter_activation: '{activation}' is not one of {sorted(ACTIVATIONS)}")
        if norm not in NORMS:
            raise ValueError(f"adapter_norm: '{norm}' is not one of {NORMS}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"adapter_dropout: {dropout} is not in [0, 1); use 0 to switch it off")
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
    def from_config(cls, config, in_dim: int, out_dim: int) -> Adapter:
        """Read ``adapter_hidden_dims`` (None: the paper's ``[in_dim // 2]``), activation, dropout, norm."""
        return cls(
            in_dim,
            out_dim,
            hidden_dims=list(config_get(config, "adapter_hidden_dims", [max(in_dim // 2, 1)])),
            activation=config_get(config, "adapter_activation", "none"),
            dropout=float(config_get(config, "adapter_dropout", 0.0)),
            norm=config_get(config, "adapter_norm", "none"),
        )
