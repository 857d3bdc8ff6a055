"""Every trainer path trains and tests the tiny data to the numbers recorded in trainer_paths.json.

A refactor of the trainer must leave each path's epoch losses (RAT's two parts apart), validation,
test results under each protocol and checkpoint contents as they were. The numbers were recorded on
a CPU with one thread; ``rel=1e-5, abs=1e-6`` lets another thread count's or BLAS's last-bit
differences pass (a parameter whose gradient is zero in theory, the attention's key bias, sums to
float noise of ~1e-7 that moves with them), while a changed loss, RNG draw order or candidate mask
moves them far more. Re-record after an intended change with
``RECORD_TRAINER_PATHS=tests/trainer_paths.json python -m pytest tests/test_trainer_paths.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from recbole_llmemb.compat import load_recbole_checkpoint
from recbole_llmemb.data import load_data
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.trainer import cached_training

RECORDED = Path(__file__).with_name("trainer_paths.json")
PLAIN = "SASRec"  # the plain model every RAT path aligns to
# name -> (model, settings beyond the common ones). Each path runs from the same seed.
PATHS = {
    "plain_ce_prefix": (PLAIN, {"eval_exclude_history": True}),
    "plain_ce_sequence": ("SASRec", {"train_regime": "sequence", "eval_negatives": 10}),
    "bert4rec_sequence": ("BERT4Rec", {"train_regime": "sequence"}),
    "plain_bpr": (
        "GRU4Rec",
        {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}},
    ),
    "plain_sampled_softmax": ("SASRec", {"sampled_softmax_negatives": 8, "eval_exclude_history": True}),
    "rat_alignment": (
        "LLMEmbSASRec",
        {"align_weight": 0.5, "adapter_learning_rate": 0.002, "eval_exclude_history": True},
    ),
    "rat_sequence_sampled_softmax": (
        "LLMEmbSASRec",
        {
            "align_weight": 0.5,
            "train_regime": "sequence",
            "sampled_softmax_negatives": 8,
            "eval_negatives": 10,
        },
    ),
}
COMMON = {"epochs": 3, "eval_step": 1, "stopping_step": 3, "report_negatives": [0, 10]}


def _numbers(result: cached_training.RunResult, epoch_losses: list) -> dict:
    checkpoint = load_recbole_checkpoint(result.checkpoint)
    return {
        "epoch_losses": epoch_losses,
        "best_valid_score": result.best_valid_score,
        "best_valid_result": result.best_valid_result,
        "test_results": result.test_results,
        "history_excluded": result.history_excluded,
        "checkpoint": {
            "epoch": checkpoint["epoch"],
            "cur_step": checkpoint["cur_step"],
            "best_valid_score": float(checkpoint["best_valid_score"]),
            "state_dict": {k: float(v.double().sum()) for k, v in checkpoint["state_dict"].items()},
            "optimizer_groups": [
                {k: v for k, v in group.items() if k != "params"}
                for group in checkpoint["optimizer"]["param_groups"]
            ],
            "optimizer_state": [
                float(sum(v.double().abs().sum() for v in state.values() if torch.is_tensor(v)))
                for state in checkpoint["optimizer"]["state"].values()
            ],
        },
    }


def _train(config, data, checkpoint: str, resume: bool = False) -> dict:
    """``cached_training.train_and_test``, keeping what each epoch returned."""
    epoch_losses: list = []
    get_trainer = cached_training.get_trainer

    def recording_trainer(model_type, model_name):
        trainer_class = get_trainer(model_type, model_name)

        def build(*args, **kwargs):
            trainer = trainer_class(*args, **kwargs)
            train_epoch = trainer._train_epoch

            def recorded_epoch(*epoch_args, **epoch_kwargs):
                loss = train_epoch(*epoch_args, **epoch_kwargs)
                epoch_losses.append(list(loss) if isinstance(loss, tuple) else loss)
                return loss

            trainer._train_epoch = recorded_epoch
            return trainer

        return build

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cached_training, "get_trainer", recording_trainer)
        result = cached_training.train_and_test(config, config.model_class, data, checkpoint, resume=resume)
    return _numbers(result, epoch_losses)


def trainer_path_numbers(base_config: dict, folder: Path) -> dict:
    """Each path's numbers, then those of a plain run resumed from its first epoch's checkpoint."""
    numbers = {}
    plain_checkpoint = str(folder / "plain_ce_prefix.pth")
    for name, (model, settings) in PATHS.items():
        settings = {**base_config, **COMMON, **settings}
        if model.startswith("LLMEmb"):
            settings["pretrained_srs_file"] = plain_checkpoint
        config = make_config(model, "tiny", config_dict=settings)
        data = load_data(config)
        if model.startswith("LLMEmb"):
            prepare_table(config, data[0])
        numbers[name] = _train(config, data, str(folder / f"{name}.pth"))
    partial = str(folder / "resumed.pth")
    first = make_config(PLAIN, "tiny", config_dict={**base_config, **COMMON, "epochs": 1})
    _train(first, load_data(first), partial)
    rest = make_config(PLAIN, "tiny", config_dict={**base_config, **COMMON})
    numbers["plain_resumed"] = _train(rest, load_data(rest), partial, resume=True)
    return numbers


def _close(recorded, actual, where: str) -> None:
    if isinstance(recorded, dict):
        assert sorted(recorded) == sorted(actual), where
        for key in recorded:
            _close(recorded[key], actual[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert len(recorded) == len(actual), where
        for i, (r, a) in enumerate(zip(recorded, actual, strict=True)):
            _close(r, a, f"{where}[{i}]")
    elif isinstance(recorded, float):
        assert actual == pytest.approx(recorded, rel=1e-5, abs=1e-6), where
    else:
        assert actual == recorded, where


def test_every_trainer_path_gives_the_recorded_numbers(base_config, tmp_path):
    actual = trainer_path_numbers(base_config, tmp_path / "models")
    if os.environ.get("RECORD_TRAINER_PATHS"):  # a file to write this run's numbers to
        Path(os.environ["RECORD_TRAINER_PATHS"]).write_text(
            json.dumps(actual, indent=1, sort_keys=True) + "\n"
        )
    recorded = json.loads(RECORDED.read_text())
    assert sorted(actual) == sorted(recorded)
    for name in recorded:
        _close(recorded[name], actual[name], name)
    assert actual["rat_alignment"]["epoch_losses"][0][1] > 0  # the alignment part was trained
    assert len(actual["plain_resumed"]["epoch_losses"]) == COMMON["epochs"] - 1  # resumed after epoch 0
