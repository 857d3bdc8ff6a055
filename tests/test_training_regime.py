"""train_regime: sequence — whole sequences with the loss at every position, against RecBole's prefix rows."""

import numpy as np
import pytest
import torch

from recbole_llmemb.data import load_data
from recbole_llmemb.data.sequence_examples import (
    LengthBucketedLoader,
    append_target,
    length_bucketed_order,
    sequence_train_data,
    whole_sequence_rows,
)
from recbole_llmemb.model.sequence_loss import SequenceCrossEntropy, every_position_outputs, next_item_targets
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.trainer import LongTailTrainer, RATTrainer


def test_kept_rows_tile_each_users_sequence_from_its_end():
    # User 7: items 1..6, prefix rows with targets 2..6 (window of at most 3 items); user 8: items 9, 8.
    rows = [(7, [1], 2), (7, [1, 2], 3), (7, [1, 2, 3], 4), (7, [2, 3, 4], 5), (7, [3, 4, 5], 6), (8, [9], 8)]
    users = np.array([u for u, _, _ in rows])
    seq = np.array([s + [0] * (3 - len(s)) for _, s, _ in rows])
    lengths = np.array([len(s) for _, s, _ in rows])
    targets = np.array([t for _, _, t in rows])
    keep = whole_sequence_rows(users, seq, lengths, targets, max_length=3)
    # Row 4 (targets 4, 5, 6 from [3, 4, 5]) and row 1 (targets 2, 3 from [1, 2]): every target once.
    assert keep.tolist() == [1, 4, 5]
    covered = sorted(t for i in keep for t in [*seq[i][1 : lengths[i]], targets[i]])
    assert covered == sorted(targets.tolist())


def test_rows_out_of_time_order_are_refused():
    users, seq = np.array([1, 1]), np.array([[5, 0], [6, 7]])
    with pytest.raises(
        ValueError, match="train_regime: sequence needs each user's training rows in time order"
    ):
        whole_sequence_rows(users, seq, np.array([1, 2]), np.array([6, 8]), max_length=2)


def test_append_target_puts_the_target_after_the_last_item():
    seq = torch.tensor([[1, 2, 0], [4, 5, 6]])
    out, lengths = append_target(seq, torch.tensor([2, 3]), torch.tensor([3, 7]))
    assert out.tolist() == [[1, 2, 3], [5, 6, 7]] and lengths.tolist() == [3, 3]


def test_next_item_targets_by_hand():
    seq = torch.tensor([[4, 5, 6, 0], [7, 0, 0, 0]])
    targets = next_item_targets(seq, torch.tensor([3, 1]), torch.tensor([9, 8]))
    assert targets.tolist() == [[5, 6, 9, 0], [8, 0, 0, 0]]


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec"])
def test_every_position_equals_the_forward_pass_of_each_prefix(base_config, backbone):
    config = make_config(backbone, "tiny", config_dict=base_config)
    _, train, _, _ = load_data(config)
    torch.manual_seed(0)
    model = config.model_class(config, train.dataset).eval()
    batch = next(iter(train))
    seq, lengths = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    with torch.no_grad():
        every = every_position_outputs(model, seq, lengths)
        for k in range(seq.shape[1]):
            prefix = seq[:, : k + 1].clone()
            expected = model.forward(
                torch.nn.functional.pad(prefix, (0, seq.shape[1] - k - 1)), torch.full_like(lengths, k + 1)
            )
            real = lengths > k
            torch.testing.assert_close(every[real, k], expected[real], rtol=1e-4, atol=1e-5)
    assert "gather_indexes" not in vars(model)  # RecBole's own method is back


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec"])
def test_sequence_loss_equals_the_mean_prefix_loss(base_config, backbone):
    # Histories fit the window (at most 9 training items < 20): the prefix rows are exactly the
    # positions of the kept rows, so the two losses agree up to float error.
    config = make_config(backbone, "tiny", config_dict={**base_config, "MAX_ITEM_LIST_LENGTH": 20})
    _, train, _, _ = load_data(config)
    torch.manual_seed(0)
    model = config.model_class(config, train.dataset).eval()
    whole = sequence_train_data(train, model)
    assert len(whole.dataset) == train.dataset.user_num - 1 == 40
    prefix_rows = train.dataset.inter_feat
    sequence_rows = whole.dataset.inter_feat
    with torch.no_grad():
        prefix_loss = float(model.calculate_loss(prefix_rows))
        sequence_loss = float(SequenceCrossEntropy(model)(sequence_rows))
    assert sequence_loss == pytest.approx(prefix_loss, rel=1e-5)


def test_sequence_rows_cover_every_prefix_target_once(base_config):
    config = make_config("SASRec", "tiny", config_dict=base_config)  # window 5: several rows per user
    _, train, _, _ = load_data(config)
    model = config.model_class(config, train.dataset)
    whole = sequence_train_data(train, model).dataset.inter_feat
    targets = next_item_targets(whole[model.ITEM_SEQ], whole[model.ITEM_SEQ_LEN], whole[model.POS_ITEM_ID])
    prefix = train.dataset.inter_feat
    pairs = sorted(zip(prefix[model.USER_ID].tolist(), prefix[model.POS_ITEM_ID].tolist(), strict=True))
    users = whole[model.USER_ID].unsqueeze(1).expand_as(targets)
    covered = sorted(zip(users[targets > 0].tolist(), targets[targets > 0].tolist(), strict=True))
    assert covered == pairs and len(whole) < len(prefix)


def test_bert4rec_rows_carry_their_target_for_the_mask(base_config):
    config = make_config("BERT4Rec", "tiny", config_dict={**base_config, "MAX_ITEM_LIST_LENGTH": 20})
    _, train, _, _ = load_data(config)
    model = config.model_class(config, train.dataset)
    whole = sequence_train_data(train, model).dataset.inter_feat
    seq, lengths, target = whole[model.ITEM_SEQ], whole[model.ITEM_SEQ_LEN], whole[model.ITEM_ID]
    assert (seq[torch.arange(len(seq)), lengths - 1] == target).all()
    assert int(lengths.sum()) == len(train.dataset.inter_feat) + len(whole)  # every training item once


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_fit_under_the_sequence_regime_trains(base_config, backbone):
    settings = {
        **base_config,
        "train_regime": "sequence",
        "epochs": 6,
        "stopping_step": 10,
        "learning_rate": 0.01,
    }
    config = make_config(backbone, "tiny", config_dict=settings)
    _, train, valid, _ = load_data(config)
    torch.manual_seed(0)
    trainer = LongTailTrainer(config, config.model_class(config, train.dataset))
    trainer.fit(train, valid, saved=False)
    losses = [trainer.train_loss_dict[e] for e in sorted(trainer.train_loss_dict)]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert trainer.evaluator.groups is not None  # popularity came from the prefix rows, before the swap


def test_bpr_under_the_sequence_regime_is_refused(base_config):
    settings = {
        **base_config,
        "train_regime": "sequence",
        "loss_type": "BPR",
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
    }
    config = make_config("SASRec", "tiny", config_dict=settings)
    _, train, _, _ = load_data(config)
    trainer = LongTailTrainer(config, config.model_class(config, train.dataset))
    with pytest.raises(ValueError, match="train_regime: sequence trains with CE"):
        trainer._train_epoch(train, 0)


def test_rat_and_the_sampled_softmax_train_under_the_sequence_regime(base_config, llmemb_model):
    settings = {**base_config, "train_regime": "sequence", "align_weight": 0.0}
    for extra in ({}, {"sampled_softmax_negatives": 8}):
        config = make_config("LLMEmbSASRec", "tiny", config_dict={**settings, **extra})
        data = load_data(config)
        torch.manual_seed(0)
        trainer = RATTrainer(config, llmemb_model(config, data))
        trainer.fit(data[1], data[2], saved=False)
        assert all(np.isfinite(v) for v in trainer.train_loss_dict.values())
        assert (trainer.recommendation_loss.sampled_softmax is not None) == bool(extra)
        assert (trainer.recommendation_loss.sequence_loss is not None) != bool(extra)


def test_length_buckets_are_a_permutation_of_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    order = length_bucketed_order(lengths, batch_size=10, window=4, rng=np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(1000))
    batches = lengths[order].reshape(100, 10)
    # Sorted inside each batch, and far less spread than a random batch's.
    assert (np.diff(batches, axis=1) >= 0).all()
    spread = (batches.max(1) - batches.min(1)).mean()
    random = lengths[np.random.default_rng(2).permutation(1000)].reshape(100, 10)
    assert spread < (random.max(1) - random.min(1)).mean() / 3
    again = length_bucketed_order(lengths, batch_size=10, window=4, rng=np.random.default_rng(1))
    assert (again == order).all()


def test_the_bucketed_loader_yields_every_row_once_per_pass_in_a_new_order(base_config):
    config = make_config("SASRec", "tiny", config_dict={**base_config, "train_batch_size": 8})
    _, train, _, _ = load_data(config)
    model = config.model_class(config, train.dataset)
    loader = sequence_train_data(train, model)
    assert isinstance(loader, LengthBucketedLoader) and config["sequence_bucket_batches"] == 32
    passes = [torch.cat([b["user_id"] * 1000 + b["item_id"] for b in loader]).tolist() for _ in range(2)]
    assert sorted(passes[0]) == sorted(passes[1]) and len(set(passes[0])) == len(passes[0])
    assert passes[0] != passes[1]
    unbucketed = make_config("SASRec", "tiny", config_dict={**base_config, "sequence_bucket_batches": 0})
    _, train, _, _ = load_data(unbucketed)
    plain = sequence_train_data(train, model)
    assert not isinstance(plain, LengthBucketedLoader) and plain.shuffle


def test_the_converged_variant_sets_the_regime_and_the_stopping_rule(base_config):
    config = make_config(
        "SASRec",
        "tiny",
        ["converged"],
        {k: v for k, v in base_config.items() if k not in ("epochs", "stopping_step")},
    )
    assert config["train_regime"] == "sequence" and config["epochs"] == 200
    assert (config["eval_step"], config["stopping_step"], config["eval_exclude_history"]) == (5, 4, "auto")
