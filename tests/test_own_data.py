"""A user's own dataset with no YAML: columns from the .inter header, time order or file order."""

import logging
import random

import pytest

from recbole_llmemb import quick_start
from recbole_llmemb.data import load_data
from recbole_llmemb.quick_start import make_config

OWN = {"load_col", "prompt_fields", "prompt_list_fields"}  # what a dataset YAML would set


def write_own_dataset(root, with_time: bool) -> dict[str, str]:
    """``root/mine/mine.inter|.item``: 20 users, 8 of 15 items each, rows shuffled in the file when
    there is a time column. Returns each user's last item (by time, else by file order)."""
    rng = random.Random(1)
    folder = root / "mine"
    folder.mkdir(parents=True)
    rows, last = [], {}
    for user in range(1, 21):
        items = rng.sample(range(1, 16), 8)
        rows += [(f"u{user}", f"i{item}", t) for t, item in enumerate(items, start=1)]
        last[f"u{user}"] = f"i{items[-1]}"
    if with_time:
        rng.shuffle(rows)  # the time column, not the file, orders each user's items
        lines = ["user_id:token\titem_id:token\ttimestamp:float"] + [f"{u}\t{i}\t{t}" for u, i, t in rows]
    else:
        lines = ["user_id:token\titem_id:token"] + [f"{u}\t{i}" for u, i, _ in rows]
    (folder / "mine.inter").write_text("\n".join(lines) + "\n")
    words = [
        "red",
        "blue",
        "night",
        "city",
        "dream",
        "river",
        "star",
        "storm",
        "garden",
        "ghost",
    ]  # the tiny LLM's
    items = ["item_id:token\ttitle:token_seq"] + [
        f"i{n}\t{words[n % 10]} {words[n // 3]}" for n in range(1, 16)
    ]
    (folder / "mine.item").write_text("\n".join(items) + "\n")
    return last


def test_targets(config) -> dict[str, str]:
    dataset, _, _, test = load_data(config)
    users = dataset.id2token("user_id", test._dataset.inter_feat["user_id"].numpy())
    items = dataset.id2token("item_id", test._dataset.inter_feat["item_id"].numpy())
    return dict(zip(users, items, strict=True))


test_targets.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("with_time", [True, False])
def test_own_dataset_without_yaml_orders_by_time_or_file_and_runs(base_config, tmp_path, caplog, with_time):
    last = write_own_dataset(tmp_path / "own", with_time)
    settings = {k: v for k, v in base_config.items() if k not in OWN}
    settings.update(data_path=str(tmp_path / "own"), epochs=1)
    config = make_config("SASRec", "mine", config_dict=settings)
    with caplog.at_level(logging.WARNING):
        assert test_targets(config) == last  # leave-one-out holds out each user's last item
    assert config["load_col"] == {"inter": ["user_id", "item_id"] + (["timestamp"] if with_time else [])}
    assert (
        "has no 'timestamp' column: each user's items are taken in file order" in caplog.text
    ) != with_time
    outcome = quick_start.run("SASRec", "mine", config_dict=settings)
    assert 0.0 <= outcome["llmemb"]["test_result"]["hit@10"] <= 1.0


def test_inter_file_without_an_id_column_is_a_one_line_error(base_config, tmp_path):
    folder = tmp_path / "own" / "mine"
    folder.mkdir(parents=True)
    (folder / "mine.inter").write_text("user:token\titem_id:token\nu1\ti1\n")
    settings = {k: v for k, v in base_config.items() if k not in OWN}
    config = make_config("SASRec", "mine", config_dict=dict(settings, data_path=str(tmp_path / "own")))
    with pytest.raises(ValueError, match=r"mine\.inter: no 'user_id' column .*USER_ID_FIELD"):
        load_data(config)


def test_evaluation_of_a_large_catalog_goes_in_chunks_with_the_same_results(base_config, monkeypatch):
    from recbole_llmemb.data import loading

    settings = dict(base_config, epochs=1, eval_batch_size=2048)
    whole = quick_start.run("SASRec", "tiny", config_dict=settings, stage="pretrain")["plain"]
    monkeypatch.setattr(loading, "EVAL_SCORES_BUDGET", 31 * 3)  # tiny: 31 items, so 3 users a chunk
    config = make_config("SASRec", "tiny", config_dict=settings)
    assert load_data(config)[3].step == 3 and config["eval_batch_size"] == 3
    chunked = quick_start.run("SASRec", "tiny", config_dict=settings, stage="pretrain")["plain"]
    assert chunked["cached"] and chunked["test_results"] == whole["test_results"]
