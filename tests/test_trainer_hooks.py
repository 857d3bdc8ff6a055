"""Each hook of the base trainer is what training, evaluation, distribution and checkpoints use."""

from __future__ import annotations

import os

import pytest
import torch

from recbole_llmemb.artifacts.records import read_record
from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.longtail import LongTailCollector, LongTailEvaluator
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.trainer import LongTailTrainer


@pytest.fixture
def tiny(base_config):
    """``(config, data)`` of a plain SASRec on the tiny data, two epochs."""
    config = make_config("SASRec", "tiny", config_dict={**base_config, "epochs": 2, "eval_step": 1})
    return config, load_data(config)


def trainer_of(trainer_class, config, data):
    torch.manual_seed(0)
    return trainer_class(config, config.model_class(config, data[1].dataset))


def test_fit_trains_each_epoch_on_epoch_data_with_batch_loss(tiny, tmp_path):
    config, (dataset, train, valid, _) = tiny
    first = next(iter(train))
    seen = []

    class OneBatchOneRow(LongTailTrainer):
        def epoch_data(self, train_data):
            assert train_data is train  # the prefix rows, as fit was given them
            return [first]

        def batch_loss(self, interaction):
            loss = (self.model.item_embedding.weight[1] ** 2).sum()  # a gradient on item 1's row only
            seen.append((interaction, loss.item()))
            return loss

    trainer = trainer_of(OneBatchOneRow, config, (dataset, train))
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.saved_model_file = str(tmp_path / "model.pth")
    trainer.fit(train, valid, saved=True)
    # One batch an epoch (RecBole's epoch moves it to the device: a copy), two epochs.
    assert [torch.equal(batch["item_id"], first["item_id"]) for batch, _ in seen] == [True, True]
    assert [trainer.train_loss_dict[e] for e in (0, 1)] == [loss for _, loss in seen]
    after = dict(trainer.model.named_parameters())
    assert [name for name in before if not torch.equal(before[name], after[name])] == [
        "item_embedding.weight"
    ]
    changed = (before["item_embedding.weight"] != after["item_embedding.weight"]).any(dim=1)
    assert changed.nonzero().flatten().tolist() == [1]


def test_a_batch_loss_of_parts_is_summed_and_logged_apart(tiny):
    config, (dataset, train, _, _) = tiny

    class TwoParts(LongTailTrainer):
        def batch_loss(self, interaction):
            loss = self.recommendation_loss(interaction)
            return loss, 0.5 * loss

    parts = trainer_of(TwoParts, config, (dataset, train))._train_epoch(train, 0)
    assert isinstance(parts, tuple) and parts[1] == parts[0] / 2 and parts[0] > 0


def test_evaluation_applies_mask_candidates_and_uses_the_built_evaluator(tiny):
    config, (dataset, train, _, test) = tiny

    class OnlyTheTarget(LongTailTrainer):
        def mask_candidates(self, interaction, scores, positive_u, positive_i):
            keep = torch.zeros_like(scores, dtype=torch.bool)
            keep[positive_u, positive_i] = True
            return scores.masked_fill(~keep, -float("inf"))

    class NoTarget(LongTailTrainer):
        def mask_candidates(self, interaction, scores, positive_u, positive_i):
            scores = super().mask_candidates(interaction, scores, positive_u, positive_i)
            scores[positive_u, positive_i] = -float("inf")
            return scores

    class Marked(LongTailEvaluator):
        def evaluate(self, dataobject):
            return {**super().evaluate(dataobject), "marked": 1.0}

    collected = []

    class Counting(LongTailCollector):
        def eval_batch_collect(self, scores_tensor, interaction, positive_u, positive_i):
            collected.append(len(positive_u))
            super().eval_batch_collect(scores_tensor, interaction, positive_u, positive_i)

    class MarkedEvaluator(LongTailTrainer):
        def build_eval_collector(self, config):
            return Counting(config)

        def build_evaluator(self, config):
            return Marked(config)

    results = {}
    for trainer_class in (OnlyTheTarget, NoTarget, MarkedEvaluator):
        trainer = trainer_of(trainer_class, config, (dataset, train))
        trainer.set_popularity(train)
        results[trainer_class] = trainer.evaluate(test, load_best_model=False)
    assert results[OnlyTheTarget]["hit@10"] == 1.0
    assert results[NoTarget]["hit@10"] == 0.0
    assert results[MarkedEvaluator]["marked"] == 1.0 and 0 < results[MarkedEvaluator]["hit@10"] < 1
    assert sum(collected) == len(test.dataset.inter_feat)  # every test row went through the built collector


def test_only_a_process_that_writes_checkpoints_saves_one(tiny, tmp_path):
    config, data = tiny

    class NotRankZero(LongTailTrainer):
        def writes_checkpoints(self):
            return False

    for trainer_class, name in ((NotRankZero, "other.pth"), (LongTailTrainer, "main.pth")):
        trainer = trainer_of(trainer_class, config, data)
        trainer.saved_model_file = str(tmp_path / name)
        trainer.checkpoint_key = "k1"
        trainer._save_checkpoint(0)
    assert not os.path.exists(tmp_path / "other.pth")
    assert read_record(str(tmp_path / "main.pth"))["key"] == "k1"


def test_several_processes_train_through_wrap_distributed(tiny):
    config, data = tiny
    wrapped = object()

    class Wrapping(LongTailTrainer):
        def wrap_distributed(self):
            return wrapped

    config["single_spec"] = False  # as under torchrun; RecBole's own wrapper would need a process group
    try:
        trainer = trainer_of(Wrapping, config, data)
        assert trainer.distributed_model is wrapped and config["single_spec"] is False
    finally:
        config["single_spec"] = True
    assert not hasattr(trainer_of(Wrapping, config, data), "distributed_model")


def test_best_model_and_resume_are_read_through_load_checkpoint(tiny, tmp_path):
    config, (dataset, train, valid, test) = tiny
    loads = []

    class Recording(LongTailTrainer):
        def load_checkpoint(self, checkpoint_file, resuming=False):
            loads.append((checkpoint_file, resuming))
            return super().load_checkpoint(checkpoint_file, resuming)

    checkpoint = str(tmp_path / "model.pth")
    trained = trainer_of(Recording, config, (dataset, train))
    trained.saved_model_file = checkpoint
    trained.fit(train, valid, saved=True)
    result = trained.evaluate(test)
    assert loads == [(checkpoint, False)]

    resumed = trainer_of(Recording, config, (dataset, train))
    resumed.resume_checkpoint(checkpoint)
    assert loads[1:] == [(checkpoint, True)]
    assert resumed.start_epoch == read_record(checkpoint)["epoch"] + 1
    resumed.set_popularity(train)
    assert resumed.evaluate(test, load_best_model=False) == result  # the best model's weights came back
