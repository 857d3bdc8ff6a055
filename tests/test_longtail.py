import math

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_llmemb import BACKBONES
from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.fixed_negatives import FixedNegatives
from recbole_llmemb.evaluation.longtail import LongTailCollector, LongTailEvaluator
from recbole_llmemb.evaluation.popularity import (
    PopularityGroups,
    training_history_lengths,
    training_item_popularity,
)
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import EvaluationSettings
from recbole_llmemb.trainer.cached_training import train_and_test

BOUNDS = (5, 10, 20, 40)  # longtail_group_bounds' default


def sasrec_config(base_config, **overrides):
    return make_config(BACKBONES["SASRec"].backbone, "tiny", config_dict={**base_config, **overrides})


def hand_popularity(data_root, dataset) -> np.ndarray:
    """Training interactions per item: every user's sequence minus its last two items."""
    rows = [line.split("\t") for line in (data_root / "tiny" / "tiny.inter").read_text().splitlines()[1:]]
    by_user: dict[str, list] = {}
    for user, item, t in rows:
        by_user.setdefault(user, []).append((float(t), item))
    token2id = dataset.field2token_id["item_id"]
    counts = np.zeros(dataset.item_num, dtype=np.int64)
    for seq in by_user.values():
        for _, item in sorted(seq)[:-2]:
            counts[token2id[item]] += 1
    return counts


def test_popularity_counts_the_training_split_only(base_config, data_root):
    config = sasrec_config(base_config)
    dataset, train, _, _ = load_data(config)
    popularity = training_item_popularity(train.dataset, dataset.item_num)
    assert np.array_equal(popularity, hand_popularity(data_root, dataset))
    n_lines = len((data_root / "tiny" / "tiny.inter").read_text().splitlines()) - 1
    assert popularity.sum() == n_lines - 2 * (dataset.user_num - 1)  # valid and test items left out


def test_changing_test_interactions_leaves_groups_unchanged(base_config, data_root):
    config = sasrec_config(base_config)
    dataset, train, _, _ = load_data(config)
    before = PopularityGroups.from_config(config, training_item_popularity(train.dataset, dataset.item_num))
    # Replace every user's last (test) item by item i1 (a user already holding i1 keeps theirs).
    path = data_root / "tiny" / "tiny.inter"
    lines = path.read_text().splitlines()
    last = {}
    for n, line in enumerate(lines[1:], start=1):
        user, _, t = line.split("\t")
        if user not in last or float(t) > float(lines[last[user]].split("\t")[2]):
            last[user] = n
    held = {line.split("\t")[0] for line in lines[1:] if line.split("\t")[1] == "i1"}
    for user, n in last.items():
        if user not in held:
            u, _, t = lines[n].split("\t")
            lines[n] = f"{u}\ti1\t{t}"
    path.write_text("\n".join(lines) + "\n")
    config2 = sasrec_config(base_config)
    dataset2, train2, _, _ = load_data(config2)
    after = PopularityGroups.from_config(config2, training_item_popularity(train2.dataset, dataset2.item_num))
    order = [dataset2.field2token_id["item_id"][t] for t in dataset.field2id_token["item_id"][1:]]
    assert np.array_equal(before.popularity[1:], after.popularity[order])
    assert np.array_equal(before.tail[1:], after.tail[order])


def test_history_lengths_count_training_interactions_beyond_the_length_cap(base_config, data_root):
    config = sasrec_config(base_config, MAX_ITEM_LIST_LENGTH=3)
    dataset, train, _, _ = load_data(config)
    lengths = training_history_lengths(train.dataset, dataset.user_num)
    rows = [line.split("\t")[0] for line in (data_root / "tiny" / "tiny.inter").read_text().splitlines()[1:]]
    for token in ("u1", "u2", "u3"):
        uid = dataset.field2token_id["user_id"][token]
        assert lengths[uid] == rows.count(token) - 2  # all but valid and test, though capped at 3


def test_groups_by_ratio_threshold_and_bounds():
    popularity = np.array([0, 10, 5, 3, 1, 0, 8, 40, 20])
    ratio = PopularityGroups.build(popularity, 0.25, None, BOUNDS)  # 8 items: top 2 are 40 and 20
    assert ratio.tail.tolist() == [False, True, True, True, True, True, True, False, False]
    paper = PopularityGroups.build(popularity, 0.2, 4, BOUNDS)
    assert paper.tail.tolist() == [False, False, False, True, True, True, False, False, False]
    assert paper.group.tolist() == [0, 2, 1, 0, 0, 0, 1, 4, 3]  # <5, 5-9, 10-19, 20-39, >=40
    assert paper.group_names() == ["<5", "5-9", "10-19", "20-39", ">=40"]
    with pytest.raises(
        ValueError, match=r"longtail_group_bounds: \[10, 5\] is not a strictly increasing list"
    ):
        EvaluationSettings.from_defaults(group_bounds=[10, 5])
    with pytest.raises(ValueError, match=r"longtail_head_ratio: 1.0 is not a number in \(0, 1\)"):
        EvaluationSettings.from_defaults(head_ratio=1.0)


def test_metrics_per_group_on_a_hand_built_score_matrix(base_config):
    config = sasrec_config(base_config, topk=[2], metrics=["Hit", "NDCG"], valid_metric="NDCG@2")
    popularity = np.array([0, 50, 50, 1, 1, 1])  # items 1, 2 head; 3, 4, 5 tail (threshold 4)
    groups = PopularityGroups.build(popularity, 0.2, 4, BOUNDS)
    history = np.array([0, 3, 3, 10, 10])  # training interactions of users 1..4
    collector, evaluator = LongTailCollector(config), LongTailEvaluator(config, groups, history)
    scores = torch.tensor(
        [
            [-math.inf, 0.9, 0.1, 0.8, 0.0, 0.0],  # target 1 (head): rank 1
            [-math.inf, 0.9, 0.8, 0.1, 0.0, 0.0],  # target 3 (tail): rank 3 -> miss
            [-math.inf, 0.9, 0.1, 0.0, 0.8, 0.0],  # target 4 (tail): rank 2
            [-math.inf, 0.1, 0.9, 0.0, 0.0, 0.8],  # target 5 (tail): rank 2
        ]
    )
    targets = torch.tensor([1, 3, 4, 5])
    users = torch.tensor([1, 2, 3, 4])
    collector.eval_batch_collect(scores, Interaction({"user_id": users}), torch.arange(4), targets)
    result = evaluator.evaluate(collector.get_data_struct())
    half = 1 / math.log2(3)
    assert result["hit@2"] == pytest.approx(0.75)
    assert result["ndcg@2"] == pytest.approx((1 + 2 * half) / 4, abs=1e-4)
    assert result["head_hit@2"] == 1.0 and result["head_users"] == 1
    assert result["tail_hit@2"] == pytest.approx(2 / 3, abs=1e-4) and result["tail_users"] == 3
    assert result["tail_ndcg@2"] == pytest.approx(2 * half / 3, abs=1e-4)
    assert result["group1_users"] == 3 and result["group5_users"] == 1  # <5 and >=40
    assert result["short_hit@2"] == pytest.approx(0.5) and result["long_hit@2"] == 1.0
    # A second evaluation starts empty: nothing from the first one is carried over.
    collector.eval_batch_collect(
        scores[:1], Interaction({"user_id": users[:1]}), torch.arange(1), targets[:1]
    )
    assert evaluator.evaluate(collector.get_data_struct())["hit@2"] == 1.0


def test_fixed_negatives_exclude_user_items_are_distinct_and_repeatable():
    user_items = {1: {1, 2, 3}, 2: set(range(1, 190))}
    a = FixedNegatives(user_items, n_items=201, n=100, seed=7)
    b = FixedNegatives(user_items, n_items=201, n=100, seed=7)
    for user in (1, 2, 3):
        negatives = a.for_user(user)
        assert len(negatives) == len(set(negatives.tolist()))
        assert not set(negatives.tolist()) & user_items.get(user, set())
        assert 0 not in negatives and negatives.max() < 201
        assert np.array_equal(negatives, b.for_user(user))
    assert len(a.for_user(1)) == 100
    assert sorted(a.for_user(2).tolist()) == list(range(190, 201))  # only 11 left: all of them
    other = FixedNegatives(user_items, n_items=201, n=100, seed=8)
    assert not np.array_equal(a.for_user(1), other.for_user(1))
    mask = a.candidate_mask(torch.tensor([1, 3]))
    assert mask.shape == (2, 201) and mask.sum(dim=1).tolist() == [100, 100]


def test_uni_mode_maps_to_fixed_negatives_and_is_repeatable(base_config):
    config = sasrec_config(
        base_config, eval_args={"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "uni10"}
    )
    assert config["eval_negatives"] == 10 and config["eval_args"]["mode"] == {"valid": "full", "test": "full"}
    data = load_data(config)
    first = train_and_test(config, config.model_class, data, str(base_config["checkpoint_dir"]) + "/a.pth")
    again = train_and_test(
        config, config.model_class, data, str(base_config["checkpoint_dir"]) + "/a.pth", train=False
    )
    assert first.test_result == again.test_result
    full_config = sasrec_config(base_config)
    full = train_and_test(
        full_config,
        full_config.model_class,
        load_data(full_config),
        str(base_config["checkpoint_dir"]) + "/a.pth",
        train=False,
    )
    # Same model, 10 negatives instead of all items: the target can only rank higher.
    assert first.test_result["hit@10"] >= full.test_result["hit@10"]
    assert first.test_result["ndcg@10"] > full.test_result["ndcg@10"]
