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
from recbole_llmemb.evaluation.cold_items import ColdTest, cold_and_warm, metrics, popularity_scorer, ranks
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


def hand_test():
    """Two users over items 1..5 (tokens a..e); e is cold."""
    sequences = {"u1": [(1, "a"), (2, "b"), (3, "e")], "u2": [(1, "c"), (2, "a"), (3, "d")]}
    return ColdTest.from_sequences(sequences, list("abcde"), {"e"}, max_length=4, seed=0, negatives=2)


def test_the_test_and_its_metrics_against_a_hand_computation():
    test = hand_test()
    assert test.histories.tolist() == [[1, 2, 0, 0], [3, 1, 0, 0]]
    assert test.targets.tolist() == [5, 4] and test.cold.tolist() == [True, False]
    # uni candidates: items the user never had.
    assert set(test.negatives[0].tolist()) <= {3, 4} and set(test.negatives[1].tolist()) <= {2, 5}
    scores = torch.tensor([0.0, 9.0, 8.0, 7.0, 6.0, 5.0])  # by id: a=9 > b=8 > c=7 > d=6 > e=5

    def scorer(histories, lengths):
        return scores.expand(len(histories), -1)

    result = ranks(test, scorer)
    # u1: target e (5.0); a, b are its history (masked); c, d score higher: rank 2.
    # u2: target d (6.0); c, a are masked; b (8.0) scores higher: rank 1. Against {b, e}: rank 1.
    assert result["full"].tolist() == [2, 1]
    assert result["uni100"].tolist() == [2, 1]
    assert metrics(torch.tensor([2, 1, 10]), k=10) == pytest.approx(
        {"hit@10": 2 / 3, "ndcg@10": (1 / np.log2(4) + 1 / np.log2(3)) / 3}
    )
    rows = cold_and_warm(test, scorer)["full"]
    assert rows["cold_users"] == 1 and rows["warm_users"] == 1
    assert rows["cold_ndcg@10"] == pytest.approx(1 / np.log2(4))
    assert rows["warm_ndcg@10"] == pytest.approx(1 / np.log2(3))


def test_popularity_ranks_a_cold_item_below_every_counted_one():
    test = hand_test()
    counts = np.array([0, 5, 3, 2, 1, 0])  # e (cold) has no training interaction
    result = ranks(test, popularity_scorer(counts, seed=0))
    assert result["full"].tolist() == [2, 1]  # u1: c and d (unmasked, counted) above e; u2: b above d


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
    with pytest.raises(ValueError, match="eval_cold_reference"):
        reordered(scorer, own, ["a", "b", "d"])


def test_the_comparison_refuses_the_cold_setting_and_names_the_function(base_config):
    from recbole_llmemb.quick_start import compare

    with pytest.raises(ValueError, match="run_cold_items"):
        compare("SASRec", "tiny", config_dict=dict(base_config, eval_cold_items=0.1))
