import pytest
import torch
from torch import nn

from recbole_llmemb.adapter import Adapter
from recbole_llmemb.llm_item_embedding import LLMItemEmbedding


def make(n_items=6, dim=8, out=4, **kwargs):
    torch.manual_seed(0)
    table = torch.randn(n_items, dim)
    table[0] = 0
    return LLMItemEmbedding(table, Adapter(dim, out, [dim // 2]), out, **kwargs)


def test_weight_is_adapted_table_with_zero_padding_row():
    emb = make()
    weight = emb.weight
    assert weight.shape == (6, 4)
    assert torch.equal(weight[0], torch.zeros(4))
    assert torch.allclose(weight[1:], emb.adapter(emb.table[1:]))
    ids = torch.tensor([[0, 3, 5]])
    assert torch.equal(emb(ids)[0], weight[[0, 3, 5]])


def test_extra_token_row_is_trainable_and_last():
    emb = make(n_extra_tokens=1)
    assert emb.weight.shape == (7, 4) and emb.num_embeddings == 7
    emb.weight.sum().backward()
    assert emb.extra.grad is not None and torch.equal(emb.weight[6], emb.extra[0])


def test_eval_mode_computes_adapted_table_once():
    emb = make().eval()
    calls = []
    emb.adapter.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        first = emb.weight
        for _ in range(3):
            emb(torch.tensor([1, 2]))
        assert emb.weight is first
    assert len(calls) == 1


def test_train_mode_recomputes_after_an_optimiser_step():
    emb = make().train()
    optimiser = torch.optim.Adam(emb.parameters(), lr=0.1)
    before = emb.weight
    assert emb.weight is before  # reused within a step (CE uses it twice)
    before.sum().backward()
    optimiser.step()
    after = emb.weight
    assert after is not before and not torch.allclose(after, before)


def test_frozen_table_is_a_buffer_and_trainable_table_a_parameter():
    frozen = make()
    assert "table" in dict(frozen.named_buffers()) and "table" not in dict(frozen.named_parameters())
    trainable = make(freeze_table=False)
    assert isinstance(trainable.table, nn.Parameter)


def test_without_adapter_the_table_width_must_match():
    table = torch.randn(5, 8)
    with pytest.raises(ValueError, match="llm_pca_dim"):
        LLMItemEmbedding(table, None, 4)
    emb = LLMItemEmbedding(table, None, 8)
    assert torch.equal(emb.weight[1:], table[1:])


def test_adapter_shapes_and_activation_option():
    adapter = Adapter(8, 4, [6, 5], activation="relu", dropout=0.1)
    linears = [m for m in adapter if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 6), (6, 5), (5, 4)]
    assert sum(isinstance(m, nn.ReLU) for m in adapter) == 2
    paper = Adapter.from_config({"adapter_hidden_dims": None}, 128, 64)
    assert [(m.in_features, m.out_features) for m in paper if isinstance(m, nn.Linear)] == [
        (128, 64),
        (64, 64),
    ]
    assert not any(isinstance(m, (nn.ReLU, nn.GELU, nn.Dropout)) for m in paper)  # paper: linear only
    with pytest.raises(ValueError, match="adapter_activation"):
        Adapter(8, 4, activation="swish")
