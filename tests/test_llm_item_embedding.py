import pytest
import torch
from torch import nn

from recbole_llmemb.model.adapter import Adapter
from recbole_llmemb.model.embedding_builder import condition_table
from recbole_llmemb.model.llm_item_embedding import LLMItemEmbedding
from recbole_llmemb.model.variants import HybridLLMItemEmbedding, residual_from_table
from recbole_llmemb.settings import EmbeddingSettings

LINEAR = {"activation": "none", "dropout": 0.0, "norm": "none"}  # the paper's adapter: one linear map


def make(n_items=6, dim=8, out=4, hybrid=False, **kwargs):
    torch.manual_seed(0)
    table = torch.randn(n_items, dim)
    table[0] = 0
    if hybrid:
        kwargs.setdefault("residual_init", "zero")
    embedding_class = HybridLLMItemEmbedding if hybrid else LLMItemEmbedding
    return embedding_class(table, Adapter(dim, out, [dim // 2], **LINEAR), out, **kwargs)


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
    adapter = Adapter(8, 4, [6, 5], activation="relu", dropout=0.1, norm="none")
    linears = [m for m in adapter if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 6), (6, 5), (5, 4)]
    assert sum(isinstance(m, nn.ReLU) for m in adapter) == 2
    paper = Adapter.from_settings(EmbeddingSettings.from_defaults(hidden_dims=None, **LINEAR), 128, 64)
    assert [(m.in_features, m.out_features) for m in paper if isinstance(m, nn.Linear)] == [
        (128, 64),
        (64, 64),
    ]
    assert not any(isinstance(m, (nn.ReLU, nn.GELU, nn.Dropout)) for m in paper)  # paper: linear only
    with pytest.raises(ValueError, match="adapter_activation: 'swish' is not one of"):
        EmbeddingSettings.from_defaults(activation="swish")


def test_adapter_dropout_acts_in_training_only_and_rejects_bad_values():
    torch.manual_seed(0)
    settings = EmbeddingSettings.from_defaults(hidden_dims=[16], **{**LINEAR, "dropout": 0.5})
    adapter = Adapter.from_settings(settings, 8, 4)
    assert [type(m).__name__ for m in adapter] == ["Dropout", "Linear", "Identity", "Dropout", "Linear"]
    x = torch.randn(32, 8)
    adapter.train()
    assert not torch.allclose(adapter(x), adapter(x))  # a fresh mask per call
    adapter.eval()
    assert torch.equal(adapter(x), adapter(x))
    with pytest.raises(ValueError, match=r"adapter_dropout: 1.0 is not a number in \[0, 1\)"):
        EmbeddingSettings.from_defaults(dropout=1.0)


def test_adapter_layernorm_option_and_bad_norm():
    adapter = Adapter(8, 4, [6], activation="gelu", dropout=0.0, norm="layernorm")
    assert [type(m).__name__ for m in adapter] == ["Linear", "LayerNorm", "GELU", "Linear"]
    with pytest.raises(ValueError, match="adapter_norm: 'batch' is not one of none, layernorm"):
        EmbeddingSettings.from_defaults(norm="batch")


def test_table_conditioning_centres_or_standardises_item_rows_only():
    table = torch.cat([torch.zeros(1, 3), torch.randn(50, 3) * torch.tensor([5.0, 1.0, 0.1]) + 2], dim=0)
    assert torch.equal(condition_table(table, "none")[0], table)
    centred = condition_table(table, "center")[0]
    assert torch.allclose(centred[1:].mean(0), torch.zeros(3), atol=1e-5)
    standard, shift, scale = condition_table(table, "standardize")
    assert torch.allclose(standard[1:].std(0), torch.ones(3), atol=1e-4)
    assert torch.equal(standard[0], torch.zeros(3)) and torch.equal(table[0], torch.zeros(3))
    # The returned shift and scale reproduce each row's conditioning: how a later item is treated.
    assert torch.allclose((table[1:] - shift) / scale, standard[1:], atol=1e-6)
    with pytest.raises(ValueError, match="llm_table_norm: 'whiten' is not one of"):
        EmbeddingSettings.from_defaults(table_norm="whiten")


def test_id_residual_hybrid_starts_as_llmemb_and_trains_per_item():
    plain, hybrid = make(), make(hybrid=True)
    assert torch.allclose(plain.weight, hybrid.weight)  # zero start
    hybrid.weight[3].sum().backward()
    grad = hybrid.id_residual.grad
    assert grad[3].abs().sum() > 0 and grad[[0, 1, 2, 4, 5]].abs().sum() == 0
    assert not hasattr(make(), "id_residual") and "id_residual" in repr(hybrid)


def test_a_table_initialised_residual_starts_at_the_first_components_times_the_init_scale():
    plain, hybrid = make(), make(hybrid=True, residual_init="table", init_std=0.5)
    expected = hybrid.table[:, :4] * 0.5  # out 4 of the table's 8 columns
    assert torch.equal(hybrid.id_residual.detach(), expected) and torch.equal(expected[0], torch.zeros(4))
    assert torch.allclose(hybrid.weight, plain.weight + expected)
    assert torch.equal(residual_from_table(torch.ones(2, 3), 5, 2.0), torch.tensor([[2.0] * 3 + [0.0] * 2] * 2))
    with pytest.raises(ValueError, match="item_id_residual_init: 'pca' is not one of"):
        EmbeddingSettings.from_defaults(id_residual_init="pca")


def test_row_lookup_gives_the_full_tables_rows_and_gradients():
    ids = torch.tensor([[0, 3, 5, 3], [6, 1, 0, 2]])  # padding, repeats, BERT4Rec's extra token (6)
    grads = []
    for row_lookup in (False, True):
        emb = make(hybrid=True, n_extra_tokens=1, row_lookup=row_lookup).train()
        with torch.no_grad():  # a non-zero residual, so the variant's path is exercised too
            emb.id_residual.normal_()
        out = emb(ids)
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        grads.append([p.grad.clone() for p in emb.parameters()])
        assert torch.equal(out[0, 0], torch.zeros(4))
        full = emb.weight.detach()
        assert torch.allclose(out, full[ids], atol=1e-6)
    for with_full, with_rows in zip(*grads, strict=True):
        assert torch.allclose(with_full, with_rows, atol=1e-5)


def test_row_lookup_adapts_only_the_prefetched_rows_once_per_step():
    emb = make(n_items=50, row_lookup=True).train()
    rows_seen = []
    emb.adapter.register_forward_hook(lambda module, args, out: rows_seen.append(args[0].shape[0]))
    optimiser = torch.optim.SGD(emb.parameters(), lr=0.1)
    seq, pos, neg = torch.tensor([[0, 4, 7], [7, 9, 4]]), torch.tensor([9, 11]), torch.tensor([30, 4])
    emb.prefetch(torch.cat([seq.flatten(), pos, neg]))
    loss = (emb(seq).sum(1) * (emb(pos) - emb(neg))).sum()
    assert rows_seen == [6]  # {0, 4, 7, 9, 11, 30}, one adapter pass, not 50 rows
    loss.backward()
    optimiser.step()
    emb(torch.tensor([4]))  # after the step the prefetched rows are stale: recomputed
    assert rows_seen == [6, 1]
    emb.eval()
    with torch.no_grad():
        emb(torch.tensor([4]))  # evaluation scores every item: the whole table
    assert rows_seen[-1] == 49


def test_a_bfloat16_adapter_stays_close_to_float32_and_trains_float32_weights():
    full, half = make(n_items=50), make(n_items=50, adapter_dtype=torch.bfloat16)
    half.load_state_dict(full.state_dict())
    assert half.weight.dtype == torch.float32 and not torch.equal(half.weight, full.weight)
    assert torch.allclose(half.weight, full.weight, rtol=0.05, atol=0.02)  # bf16 keeps ~3 digits
    half.weight.sum().backward()
    layer = half.adapter[-1]
    assert layer.weight.dtype == torch.float32 and layer.weight.grad is not None
