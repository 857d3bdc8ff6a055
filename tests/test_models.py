import pytest
import torch

from recbole_llmemb import BACKBONES
from recbole_llmemb.data import load_data
from recbole_llmemb.model.llm_item_embedding import LLMItemEmbedding
from recbole_llmemb.quick_start import make_config, prepare_table


def build(base_config, backbone, **overrides):
    cls = BACKBONES[backbone]
    config = make_config(cls, "tiny", config_dict={**base_config, **overrides})
    data = load_data(config)
    prepare_table(config, data[0])
    model = cls(config, data[1].dataset)
    return config, data, model


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_backbone_uses_adapted_table_for_input_loss_and_scoring(base_config, backbone):
    config, (dataset, train, _, test), model = build(base_config, backbone)
    emb = model.item_embedding
    assert isinstance(emb, LLMItemEmbedding)
    n_extra = 1 if backbone == "BERT4Rec" else 0
    assert emb.weight.shape == (dataset.item_num + n_extra, 16)
    assert not any(n.startswith("item_embedding.table") for n, _ in model.named_parameters())

    batch = next(iter(train))
    loss = model.calculate_loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.item_embedding.adapter[-1].weight.grad is not None  # scoring and input reach the adapter

    model.eval()
    interaction = next(iter(test))[0]
    with torch.no_grad():
        scores = model.full_sort_predict(interaction).view(len(interaction), -1)
        assert scores.shape == (len(interaction), dataset.item_num)
        weight = model.item_embedding.weight
        # Scores change when the adapter's output changes: the adapted table does the scoring.
        layer = model.item_embedding.adapter[-1]
        layer.weight.add_(torch.randn_like(layer.weight))
        assert model.item_embedding.weight is not weight
        assert not torch.allclose(model.full_sort_predict(interaction).view(len(interaction), -1), scores)


def test_bert4rec_keeps_recbole_masking_and_trainable_mask_row(base_config):
    config, (_, train, _, _), model = build(base_config, "BERT4Rec")
    assert config["transform"] == "mask_itemseq"
    assert model.mask_token == model.n_items
    batch = next(iter(train))
    assert (
        "Mask_item_id_list" in batch.interaction
        or "Mask_" + config["ITEM_ID_FIELD"] + "_list" in batch.interaction
    )
    model.calculate_loss(batch).backward()
    assert model.item_embedding.extra.grad is not None


def test_sasrec_sampled_predict_matches_full_sort(base_config):
    _, (_, _, _, test), model = build(base_config, "SASRec")
    model.eval()
    interaction = next(iter(test))[0]
    with torch.no_grad():
        full = model.full_sort_predict(interaction).view(len(interaction), -1)
        interaction.update(interaction.__class__({model.ITEM_ID: torch.full((len(interaction),), 3)}))
        sampled = model.predict(interaction)
    assert torch.allclose(sampled, full[:, 3], atol=1e-5)


def test_ablation_switches(base_config):
    _, _, model = build(base_config, "SASRec", use_adapter=False, freeze_llm_table=False)
    emb = model.item_embedding
    assert isinstance(emb.adapter, torch.nn.Identity) and emb.table.shape[1] == 16
    assert any(n == "item_embedding.table" for n, _ in model.named_parameters())
