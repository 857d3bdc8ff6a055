"""eval_exclude_history: each user's earlier items out of the full ranking, by hand and in the trainer."""

import numpy as np
import pytest
import torch

from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.seen_items import SeenItems, has_repeated_items, resolve
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import EvaluationSettings
from recbole_llmemb.trainer import LongTailTrainer


def test_repeated_items_by_hand():
    assert not has_repeated_items(np.array([1, 1, 2]), np.array([3, 4, 3]))
    assert has_repeated_items(np.array([1, 2, 1]), np.array([3, 3, 3]))


def test_mask_holds_the_training_items_and_the_window():
    seen = SeenItems(np.array([2, 1, 2]), np.array([5, 3, 1]), n_users=3, n_items=7)
    mask = seen.mask(torch.tensor([2, 1]), torch.tensor([[6, 0], [4, 0]]))
    assert mask.nonzero().tolist() == [[0, 1], [0, 5], [0, 6], [1, 3], [1, 4]]


def test_auto_finds_an_item_repeated_with_a_users_first_item(base_config, tmp_path):
    folder = tmp_path / "rep" / "rep"
    folder.mkdir(parents=True)
    rows = [f"u{u}\t{item}\t{t}" for u in range(1, 6) for t, item in enumerate(["a", "b", "c", "d"], 1)]
    rows += ["u9\ta\t1", "u9\tb\t2", "u9\ta\t3", "u9\tc\t4"]  # u9's first item comes back once
    (folder / "rep.inter").write_text(
        "user_id:token\titem_id:token\ttimestamp:float\n" + "\n".join(rows) + "\n"
    )
    (folder / "rep.item").write_text(
        "item_id:token\ttitle:token_seq\n" + "".join(f"{i}\tt {i}\n" for i in "abcd")
    )
    settings = {
        **base_config,
        "data_path": str(tmp_path / "rep"),
        "prompt_fields": ["title"],
        "prompt_list_fields": [],
    }
    dataset = load_data(make_config("SASRec", "rep", config_dict=settings))[0]
    assert resolve("auto", dataset) is False and resolve(True, dataset) is True


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="eval_exclude_history: 'yes' is not auto, True or False"):
        EvaluationSettings.from_defaults(exclude_history="yes")


@pytest.mark.parametrize("setting", [True, False])
def test_the_trainer_scores_history_items_minus_infinity(base_config, setting):
    config = make_config("SASRec", "tiny", config_dict={**base_config, "eval_exclude_history": setting})
    dataset, train, _, test = load_data(config)
    trainer = LongTailTrainer(config, config.model_class(config, train.dataset))
    trainer.set_popularity(train)
    trainer.set_eval_dataset(dataset)
    assert trainer.exclude_history is setting  # the tiny data has no repeated items: auto would say True
    trainer.model.eval()
    trainer.tot_item_num = dataset.item_num  # what RecBole's evaluate sets before its batches
    with torch.no_grad():
        interaction, scores, positive_u, positive_i = trainer._full_sort_batch_eval(next(iter(test)))
    feat = dataset.inter_feat  # RecBole's prefix rows of every user, in time order: their targets
    users = interaction["user_id"].tolist()
    for row, user in enumerate(users):
        mine = feat["user_id"] == user
        items = [int(feat["item_id_list"][mine][0, 0]), *feat["item_id"][mine].tolist()]
        history, target = items[:-1], items[-1]  # the test target is the user's last item
        assert int(positive_i[positive_u == row]) == target
        assert np.isfinite(float(scores[row, target]))
        assert bool(torch.isinf(scores[row, history]).all()) is setting
        others = [i for i in range(1, scores.shape[1]) if i not in history]
        assert torch.isfinite(scores[row, others]).all()
    assert LongTailTrainer(config, trainer.model).exclude_history is None  # decided by the data, later
