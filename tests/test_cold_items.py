"""The cold-item protocol: the split, the test and its metrics by hand, the baselines, the whole run."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from recbole_llmemb.cold_start import reordered
from recbole_llmemb.data.cold_items import choose_cold_items, cold_split, read_sequences
from recbole_llmemb.evaluation.candidates import restrict_to_candidates
from recbole_llmemb.evaluation.cold_items import ColdTest, cold_and_warm, popularity_scorer
from recbole_llmemb.evaluation.fixed_negatives import FixedNegatives
from recbole_llmemb.evaluation.seen_items import SeenItems
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import ColdItemSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_choosing_cold_items_at_random_by_time_or_by_id():
    sequences = {"u1": [(1, "a"), (2, "b"), (5, "e")], "u2": [(3, "c"), (4, "d"), (6, "b")]}
    chosen = choose_cold_items(sequences, 0.4, "random", seed=1)
    assert len(chosen) == 2 and set(chosen) <= set("abcde")
    assert chosen == choose_cold_items(sequences, 0.4, "random", seed=1)  # seeded
    assert choose_cold_items(sequences, 0.4, "last") == ["d", "e"]  # first seen at 4 and 5
    assert choose_cold_items(sequences, ["c"]) == ["c"]
    with pytest.raises(ValueError, match="eval_cold_items: 1 ids are not items"):
        choose_cold_items(sequences, ["zz"])
    with pytest.raises(ValueError, match="eval_cold_items: 1.5 is not a fraction in"):
        ColdItemSettings.from_defaults(items=1.5)
    with pytest.raises(ValueError, match="eval_cold_rule: 'newest' is not one of random, last"):
        ColdItemSettings.from_defaults(rule="newest")


def test_the_warm_data_holds_no_interaction_or_text_of_a_cold_item(base_config):
    config = make_config("LLMEmbSASRec", "tiny", config_dict=dict(base_config, eval_cold_items=0.2))
    sequences = read_sequences(config)
    split = cold_split(config, sequences)
    assert len(split.cold) == 6
    warm = os.path.join(split.data_path, "tiny")
    inter = open(os.path.join(warm, "tiny.inter")).read().splitlines()
    original = open(os.path.join(config["data_path"], "tiny.inter")).read().splitlines()
    kept = [line for line in original[1:] if line.split("\t")[1] not in split.cold]
    assert inter[0] == original[0] and inter[1:] == kept and len(kept) < len(original) - 1
    items = [line.split("\t")[0] for line in open(os.path.join(warm, "tiny.item")).read().splitlines()[1:]]
    assert not set(items) & set(split.cold)
    cold_rows = open(split.cold_item_file).read().splitlines()
    assert cold_rows[0].startswith("item_id:token") and {r.split("\t")[0] for r in cold_rows[1:]} <= set(
        split.cold
    )
    assert cold_split(config, sequences).data_path == split.data_path  # written once, then reused


def test_seeds_share_one_split_unless_the_cold_seed_follows_the_seed(base_config):
    def split(**settings):
        config = make_config(
            "LLMEmbSASRec", "tiny", config_dict=dict(base_config, eval_cold_items=0.2, **settings)
        )
        return ColdItemSettings.from_config(config).seed, cold_split(config, read_sequences(config)).cold

    assert split(seed=1) == split(seed=2) == split(seed=2, eval_cold_seed=2020)
    assert split(seed=2)[0] == 2020
    own = split(seed=2, eval_cold_seed=None)
    assert own == split(seed=5, eval_cold_seed=2) and own[0] == 2
    assert own[1] == choose_cold_items(
        read_sequences(make_config("LLMEmbSASRec", "tiny", config_dict=base_config)), 0.2, seed=2
    )
    assert own[1] != split(seed=2)[1]  # a different seed, a different split (6 of the tiny data's 30 items)


def hand_test(negatives: int = 2) -> ColdTest:
    """Three users over items 1..14, scored 20 - id (1 highest); 5 and 14 are cold.

    u0: history 1, 2, target 5. u1: history 3, 1, target 4. u2: history 1, target 14.
    Each user's items (FixedNegatives) leave exactly two others: u0 13, 14; u1 2, 6; u2 2, 3.
    """
    every = set(range(1, 15))
    return ColdTest(
        users=torch.tensor([0, 1, 2]),
        histories=torch.tensor([[1, 2, 0], [3, 1, 0], [1, 0, 0]]),
        lengths=torch.tensor([2, 2, 1]),
        targets=torch.tensor([5, 4, 14]),
        cold_items=torch.tensor([5, 14]),
        seen=SeenItems(np.array([0, 1]), np.array([1, 3]), n_users=3, n_items=15),  # training items
        negatives=FixedNegatives(
            {0: every - {13, 14}, 1: every - {2, 6}, 2: every - {2, 3}}, 15, negatives, 0
        ),
        n_ids=15,
    )


def by_id(histories, lengths):
    return (20.0 - torch.arange(15.0)).expand(len(histories), -1)


def test_the_candidates_by_hand():
    test = hand_test()
    scores = torch.zeros(3, 15)
    rows, windows = torch.arange(3), test.histories
    # The history, never the target: u1's item 3 is gone, a repeated target 1 would stay.
    full = restrict_to_candidates(scores, test.users, windows, rows, test.targets, seen=test.seen)
    assert [set(torch.isfinite(row).nonzero().flatten().tolist()) - {0} for row in full] == [
        set(range(3, 15)),
        {2, *range(4, 15)},
        set(range(2, 15)),
    ]
    repeated = restrict_to_candidates(
        scores, test.users, windows, rows, torch.tensor([1, 1, 1]), seen=test.seen
    )
    assert torch.isfinite(repeated[:, 1]).all()
    sampled = restrict_to_candidates(
        scores, test.users, windows, rows, test.targets, test.negatives, test.seen
    )
    assert [set(torch.isfinite(row).nonzero().flatten().tolist()) for row in sampled] == [
        {5, 13, 14},
        {2, 4, 6},
        {2, 3, 14},
    ]


def test_the_test_and_its_metrics_against_a_hand_computation():
    rows = cold_and_warm(hand_test(), by_id)
    third = 1 / np.log2(3)
    # full: u0's target 5 is third (3, 4 above), u1's 4 second (2 above), u2's 14 thirteenth.
    # uni2: u0's 5 first of {5, 13, 14}, u1's 4 second of {2, 4, 6}, u2's 14 third of {2, 3, 14}.
    # RecBole rounds to metric_decimal_place (4).
    assert rows["full"] == {
        "cold_users": 2,
        "cold_hit@10": 0.5,
        "cold_ndcg@10": 0.25,
        "warm_users": 1,
        "warm_hit@10": 1.0,
        "warm_ndcg@10": round(third, 4),
        "all_users": 3,
        "all_hit@10": round(2 / 3, 4),
        "all_ndcg@10": round((0.5 + third) / 3, 4),
    }
    assert rows["uni2"] == {
        "cold_users": 2,
        "cold_hit@10": 1.0,
        "cold_ndcg@10": 0.75,
        "warm_users": 1,
        "warm_hit@10": 1.0,
        "warm_ndcg@10": round(third, 4),
        "all_users": 3,
        "all_hit@10": 1.0,
        "all_ndcg@10": round((1 + third + 0.5) / 3, 4),
    }
    assert cold_and_warm(hand_test(), by_id, batch_size=1) == rows  # batches change nothing
    assert cold_and_warm(hand_test(), by_id, decimal_place=2)["full"]["warm_ndcg@10"] == 0.63
    no_cold = hand_test()
    no_cold.cold_items = torch.tensor([], dtype=torch.long)
    assert cold_and_warm(no_cold, by_id)["full"]["cold_users"] == 0
    assert "cold_hit@10" not in cold_and_warm(no_cold, by_id)["full"]  # a group without users: its count only


def test_popularity_ranks_a_cold_item_below_every_counted_one():
    counts = np.array([0, *range(14, 1, -1), 0])  # item i counted 15 - i times; 14 (cold) never
    counts[5] = 0  # 5 is cold too
    rows = cold_and_warm(hand_test(), popularity_scorer(counts, seed=0))["full"]
    # u0: 3, 4 and 6..13 (ten counted items) outrank 5; u2: all twelve counted candidates outrank 14.
    assert rows["cold_hit@10"] == 0.0 and rows["warm_hit@10"] == 1.0


def test_the_cold_test_ranks_as_the_main_evaluator(base_config):
    """For the same model and users: the main evaluator's candidates (its trainer's masked scores) and
    its test metrics, full and sampled (10 negatives: fewer than the tiny data's unseen items, so
    they are drawn)."""
    from recbole.model.sequential_recommender import SASRec

    from recbole_llmemb.data import load_data
    from recbole_llmemb.evaluation.cold_items import model_scorer
    from recbole_llmemb.quick_start import train_plain
    from recbole_llmemb.trainer import LongTailTrainer

    settings = dict(base_config, epochs=1, eval_exclude_history=True, report_negatives=[0, 10])
    main = train_plain("SASRec", "tiny", config_dict=settings)
    config = make_config("SASRec", "tiny", config_dict=settings)
    dataset, train_data, _, test_data = load_data(config)
    model = SASRec(config, train_data.dataset)
    model.load_state_dict(torch.load(main["checkpoint"], weights_only=False)["state_dict"])
    model.eval()
    test = ColdTest.from_split(
        dataset, train_data.dataset, test_data.dataset, ["i3", "i7"], 2020, negatives=10
    )
    assert test.users.tolist() == sorted(set(dataset.inter_feat["user_id"].tolist()))  # one row per user

    trainer = LongTailTrainer(config, model)
    trainer.set_popularity(train_data)
    trainer.eval_negatives = 10
    trainer.set_eval_dataset(dataset)
    trainer.tot_item_num = dataset.item_num  # as Trainer.evaluate sets it
    with torch.no_grad():
        for batch in test_data:
            interaction, ranked, _, positive_i = trainer._full_sort_batch_eval(batch)
            rows = torch.searchsorted(test.users, interaction["user_id"])
            assert torch.equal(positive_i, test.targets[rows])
            scores = model.full_sort_predict(interaction)
            scores[:, 0] = -np.inf
            mine = restrict_to_candidates(
                scores, test.users[rows], test.histories[rows], torch.arange(len(rows)), test.targets[rows],
                test.negatives, test.seen,
            )  # fmt: skip
            assert torch.equal(torch.isfinite(mine), torch.isfinite(ranked)) and torch.equal(mine, ranked)
            for row, user in enumerate(test.users[rows].tolist()):  # the target and the user's negatives
                candidates = set(torch.isfinite(mine[row]).nonzero().flatten().tolist())
                assert candidates - {int(positive_i[row])} <= set(test.negatives.for_user(user).tolist())
                assert len(candidates) >= 10

    rows = cold_and_warm(test, model_scorer(model, "item_id_list", "item_length"))
    for protocol in ("full", "uni10"):
        assert rows[protocol]["all_users"] == len(test_data.dataset) == 40
        assert rows[protocol]["cold_users"] == int(test.cold.sum()) > 0
        assert rows[protocol]["all_hit@10"] == main["test_results"][protocol]["hit@10"]
        assert rows[protocol]["all_ndcg@10"] == main["test_results"][protocol]["ndcg@10"]
    assert rows["full"] != rows["uni10"]


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_plain_model_keeps_its_trained_rows_and_gets_initial_rows_for_cold_items(base_config, backbone):
    from recbole_llmemb.cold_start import plain_with_cold_rows
    from recbole_llmemb.evaluation.cold_items import model_scorer
    from recbole_llmemb.quick_start import train_plain

    result = train_plain(backbone, "tiny", config_dict=dict(base_config, epochs=1))
    saved = torch.load(result["checkpoint"], weights_only=False)
    trained = saved["state_dict"]["item_embedding.weight"]
    from recbole_llmemb.data import load_data

    dataset = load_data(make_config(backbone, "tiny", config_dict=base_config))[0]
    tokens = list(dataset.field2id_token["item_id"][1:])
    grown = plain_with_cold_rows(result["checkpoint"], [*tokens, "new1", "new2"], 2, seed=3)
    rows = grown.item_embedding.weight.detach()
    assert rows.shape[0] == trained.shape[0] + 2
    kept = 1 + len(tokens)  # [PAD] and the trained items; BERT4Rec's [mask] row follows the new ones
    assert torch.equal(rows[:kept], trained[:kept]) and torch.equal(rows[kept + 2 :], trained[kept:])
    new = rows[kept : kept + 2]
    assert new.std() > 0 and not torch.equal(new[0], new[1])  # the initialiser's draws
    # The trained items score as in the trained model; the new ones get scores too.
    original = type(grown)(saved["config"], dataset)
    original.load_state_dict(saved["state_dict"])
    fields = ("item_id_list", "item_length")
    histories, lengths = torch.tensor([[1, 2, 3, 0, 0]]), torch.tensor([3])
    before = model_scorer(original, *fields)(histories, lengths)
    after = model_scorer(grown, *fields)(histories, lengths)
    assert after.shape[1] == before.shape[1] + 2
    torch.testing.assert_close(after[:, :kept], before[:, :kept])
    again = plain_with_cold_rows(result["checkpoint"], [*tokens, "new1", "new2"], 2, seed=3)
    assert torch.equal(again.item_embedding.weight, grown.item_embedding.weight)  # seeded


@pytest.mark.slow
def test_the_cold_item_run_reports_every_method_from_the_command_line(base_config, tmp_path):
    settings = dict(base_config, eval_cold_items=0.2, dataset="tiny", scft=True)
    settings.pop("load_col")
    command = [sys.executable, "run_recbole_llmemb.py", *[f"--{k}={v}" for k, v in settings.items()]]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (report,) = glob.glob(os.path.join(base_config["results_dir"], "tiny-SASRec-cold-*.json"))
    rows = json.load(open(report))["rows"]
    assert list(rows) == [
        "SASRec",
        "popularity",
        "text neighbour",
        "LLMEmbSASRec w/o SCFT",
        "LLMEmbSASRec",
        "SASRec (all items trained)",
        "LLMEmbSASRec (all items trained)",
    ]
    for result in rows.values():
        full = result["full"]
        assert full["cold_users"] + full["warm_users"] == 40 and full["cold_users"] > 0
        assert 0.0 <= full["cold_ndcg@10"] <= full["cold_hit@10"] <= 1.0
    assert rows["popularity"]["full"]["cold_hit@10"] < rows["popularity"]["full"]["warm_hit@10"]
    assert os.path.isfile(report.replace(".json", ".png")) and os.path.isfile(report.replace(".json", ".md"))
    assert "# Cold items: tiny, SASRec" in done.stdout


def test_a_reference_model_scores_the_same_items_under_the_test_ids():
    own = ["b", "c", "a"]  # the reference model's ids 1..3
    seen = []

    def scorer(histories, lengths):  # own id i scores 10 * i; one extra column, as BERT4Rec's [mask]
        seen.append(histories.clone())
        return torch.tensor([[0.0, 10.0, 20.0, 30.0, -1.0]]).expand(len(histories), -1)

    score = reordered(scorer, own, ["a", "b", "c"])
    out = score(torch.tensor([[1, 3, 0]]), torch.tensor([2]))
    assert seen[0].tolist() == [[3, 2, 0]]  # test ids a, c -> own ids 3, 2
    assert out.tolist() == [[0.0, 30.0, 10.0, 20.0, -1.0]]  # a, b, c as own ids 3, 1, 2
    with pytest.raises(ValueError, match="the model's items differ from the test's"):
        reordered(scorer, own, ["a", "b", "d"])


def test_the_comparison_refuses_the_cold_setting_and_names_the_function(base_config):
    from recbole_llmemb.quick_start import compare

    with pytest.raises(ValueError, match="run_cold_items"):
        compare("SASRec", "tiny", config_dict=dict(base_config, eval_cold_items=0.1))
