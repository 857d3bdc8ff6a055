import math

import pytest
import torch

from recbole_llmemb import BACKBONES
from recbole_llmemb.data import load_data
from recbole_llmemb.model.alignment_loss import alignment_loss
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.settings import RATSettings
from recbole_llmemb.trainer import RATTrainer


def setup(base_config, backbone="SASRec", **overrides):
    cls = BACKBONES[backbone]
    config = make_config(cls, "tiny", config_dict={**base_config, **overrides})
    data = load_data(config)
    prepare_table(config, data[0])
    torch.manual_seed(0)
    model = cls(config, data[1].dataset)
    target = torch.randn(model.n_items, 16)
    return config, data, model, target


def test_alignment_loss_values():
    torch.manual_seed(0)
    x = torch.eye(4) * 3
    assert alignment_loss(x, x, temperature=0.05) < 1e-6  # each item picks itself
    shuffled = alignment_loss(x, x[[1, 2, 3, 0]], temperature=0.05)
    assert shuffled > 10
    equal = alignment_loss(torch.ones(4, 2), torch.ones(4, 2), temperature=1.0)
    assert math.isclose(equal.item(), math.log(4), rel_tol=1e-6)  # no signal: chance level
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    assert not torch.isclose(alignment_loss(a, b, 1.0, "dot"), alignment_loss(a, b, 1.0, "cosine"))
    with pytest.raises(ValueError, match="align_similarity: 'l2' is not one of cosine, dot"):
        RATSettings.from_defaults(align_similarity="l2")
    with pytest.raises(ValueError, match=r"align_temperature: 0.0 is not a number in \(0, inf\)"):
        RATSettings.from_defaults(align_temperature=0.0)


def test_rat_batch_loss_is_model_loss_plus_weighted_alignment(base_config):
    config, (_, train, _, _), model, target = setup(base_config, align_weight=0.5, align_temperature=0.2)
    trainer = RATTrainer(config, model, align_target=target)
    model.eval()  # no dropout: both computations see the same network
    batch = next(iter(train))
    rec, align = trainer.batch_loss(batch)
    assert torch.allclose(rec, model.calculate_loss(batch))
    items = torch.unique(torch.cat([batch["item_id_list"].flatten(), batch["item_id"]]))
    items = items[items > 0]
    expected = 0.5 * alignment_loss(model.item_embedding.weight[items], target[items], 0.2)
    assert torch.allclose(align, expected) and align > 0


def test_rat_training_lowers_both_losses_and_keeps_table_frozen(base_config):
    config, (_, train, _, _), model, target = setup(base_config, align_weight=1.0, learning_rate=0.01)
    trainer = RATTrainer(config, model, align_target=target)
    table = model.item_embedding.table.clone()
    adapter = model.item_embedding.adapter[-1].weight.detach().clone()
    losses = [trainer._train_epoch(train, epoch) for epoch in range(6)]
    assert all(isinstance(loss, tuple) and len(loss) == 2 for loss in losses)
    assert losses[-1][0] < losses[0][0]  # recommendation loss falls
    assert losses[-1][1] < losses[0][1]  # alignment loss falls
    assert torch.equal(model.item_embedding.table, table)
    assert not torch.equal(model.item_embedding.adapter[-1].weight, adapter)


BPR = {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}


def test_one_negative_training_adapts_only_the_batch_rows_with_the_same_losses(base_config):
    config, (_, train, _, _), model, target = setup(base_config, align_weight=0.5, train_batch_size=4, **BPR)
    emb = model.item_embedding
    assert emb.row_lookup  # BPR scores a few items per example: no need for the whole table
    trainer = RATTrainer(config, model, align_target=target)
    model.eval()  # no dropout in the backbone; the embedding alone in training mode takes the row path
    emb.train()
    batch = next(iter(train))
    rows_seen = []
    emb.adapter.register_forward_hook(lambda module, args, out: rows_seen.append(args[0].shape[0]))
    rec, align = trainer.batch_loss(batch)
    distinct = torch.unique(
        torch.cat([batch[f].flatten() for f in ("item_id_list", "item_id", "neg_item_id")])
    )
    assert rows_seen == [len(distinct)] and len(distinct) < emb.table.shape[0]  # one pass, batch items only
    emb.eval()
    assert torch.allclose(rec, model.calculate_loss(batch), atol=1e-5)
    items = torch.unique(torch.cat([batch["item_id_list"].flatten(), batch["item_id"]]))
    items = items[items > 0]
    expected = 0.5 * alignment_loss(emb.weight[items], target[items], config["align_temperature"])
    assert torch.allclose(align, expected, atol=1e-5)
    assert not setup(base_config)[2].item_embedding.row_lookup  # CE scores every item: whole table


@pytest.mark.parametrize("backbone", ["GRU4Rec", "BERT4Rec"])
def test_one_negative_training_of_other_backbones_adapts_the_batch_rows_once(base_config, backbone):
    config, (_, train, _, _), model, _ = setup(
        base_config, backbone, train_batch_size=4, align_weight=0, **BPR
    )
    emb = model.item_embedding
    rows_seen = []
    emb.adapter.register_forward_hook(lambda module, args, out: rows_seen.append(args[0].shape[0]))
    model.eval()
    emb.train()
    batch = next(iter(train))
    rec, _ = RATTrainer(config, model).batch_loss(batch)
    assert len(rows_seen) == 1 and rows_seen[0] < emb.table.shape[0]
    emb.eval()
    assert torch.allclose(rec, model.calculate_loss(batch), atol=1e-5)


def test_one_negative_rat_training_lowers_both_losses(base_config):
    config, (_, train, _, _), model, target = setup(base_config, align_weight=0.1, learning_rate=0.001, **BPR)
    trainer = RATTrainer(config, model, align_target=target)
    losses = [trainer._train_epoch(train, epoch) for epoch in range(8)]
    assert losses[-1][0] < losses[0][0] and losses[-1][1] < losses[0][1]


def test_unfrozen_table_trains(base_config):
    config, (_, train, _, _), model, target = setup(base_config, freeze_llm_table=False, align_weight=0.0)
    trainer = RATTrainer(config, model)
    table = model.item_embedding.table.detach().clone()
    trainer._train_epoch(train, 0)
    assert not torch.equal(model.item_embedding.table, table)


def test_zero_align_weight_logs_a_zero_part_and_needs_no_pretrained_model(base_config):
    config, (_, train, _, _), model, _ = setup(base_config, align_weight=0.0)
    trainer = RATTrainer(config, model)
    rec, align = trainer.batch_loss(next(iter(train)))
    assert align.item() == 0.0 and rec > 0


def test_alignment_without_pretrained_model_is_a_clear_error(base_config):
    config, _, model, _ = setup(base_config, align_weight=0.1)
    with pytest.raises(ValueError, match="pretrained_srs_file"):
        RATTrainer(config, model)


def test_adapter_learning_rate_gets_its_own_optimizer_group(base_config):
    config, _, model, _ = setup(
        base_config, align_weight=0.0, adapter_learning_rate=0.01, learning_rate=0.001
    )
    groups = RATTrainer(config, model).optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.001, 0.01]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.item_embedding.adapter.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    config, _, model, _ = setup(base_config, align_weight=0.0)
    assert len(RATTrainer(config, model).optimizer.param_groups) == 1


def test_removed_variant_options_are_refused(base_config):
    for option, value in (("adapter_experts", 4), ("item_scale", True), ("llm_pca_whiten", True)):
        with pytest.raises(ValueError, match=f"{option}: this option was removed"):
            make_config(BACKBONES["SASRec"], "tiny", config_dict={**base_config, option: value})
    make_config(
        BACKBONES["SASRec"], "tiny", config_dict={**base_config, "item_scale": False}
    )  # neutral: fine


def test_align_max_items_aligns_a_random_subset_of_the_batch_items(base_config):
    config, (_, train, _, _), model, target = setup(base_config, align_weight=1.0, align_max_items=5)
    trainer = RATTrainer(config, model, align_target=target)
    model.eval()
    batch = next(iter(train))
    items = torch.unique(torch.cat([batch["item_id_list"].flatten(), batch["item_id"]]))
    items = items[items > 0]
    assert len(items) > 5
    torch.manual_seed(3)
    _, align = trainer.batch_loss(batch)
    torch.manual_seed(3)
    chosen = items[torch.randperm(len(items))[:5]]
    expected = alignment_loss(model.item_embedding.weight[chosen], target[chosen], config["align_temperature"])
    assert torch.allclose(align, expected)
