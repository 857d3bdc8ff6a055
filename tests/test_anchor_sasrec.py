"""The public CE SASRec's architecture in benchmarks/anchor_sasrec.py: left padding to the full history,
RecBole's right-padded columns outside."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from anchor_sasrec import ANCHOR_SETTINGS, AnchorSASRec, LLMEmbAnchorSASRec  # noqa: E402
from recbole.model.sequential_recommender.sasrec import SASRec  # noqa: E402

from recbole_llmemb.config import backbone_class  # noqa: E402
from recbole_llmemb.data import load_data  # noqa: E402
from recbole_llmemb.model.sequence_loss import every_position_outputs  # noqa: E402
from recbole_llmemb.quick_start import make_config  # noqa: E402
from recbole_llmemb.utils import get_trainer  # noqa: E402


def _model(base_config, left_padding: bool):
    settings = {**base_config, **ANCHOR_SETTINGS, "anchor_left_padding": left_padding, "MAX_ITEM_LIST_LENGTH": 8}
    config = make_config(AnchorSASRec, "tiny", config_dict=settings)
    _, train, _, _ = load_data(config)
    torch.manual_seed(0)
    return config, train, AnchorSASRec(config, train.dataset).eval()


SEQ = torch.tensor([[3, 4, 5, 0, 0, 0, 0, 0], [7, 8, 9, 10, 11, 12, 13, 14]])
LENGTHS = torch.tensor([3, 8])


def test_settings_come_from_sasrec_and_the_public_model(base_config):
    config, _, model = _model(base_config, True)
    # SASRec's YAML files are read for it (hidden_act comes from this package's SASRec.yaml).
    assert (model.inner_size, model.layer_norm_eps, config["hidden_act"]) == (64, 1e-8, "relu")
    assert len(model.trm_encoder) == config["n_layers"]


def test_left_padding_does_not_depend_on_the_batch_width(base_config):
    # The sequence regime cuts the columns past the batch's longest row: the output must not move.
    _, _, model = _model(base_config, True)
    with torch.no_grad():
        last = model(SEQ, LENGTHS)
        every = every_position_outputs(model, SEQ, LENGTHS)
        narrow = every_position_outputs(model, SEQ[:1, :3], LENGTHS[:1])
    torch.testing.assert_close(every[torch.arange(2), LENGTHS - 1], last)
    torch.testing.assert_close(narrow[0], every[0, :3], rtol=1e-5, atol=1e-5)


def test_left_padding_puts_the_newest_item_last(base_config):
    # Positions count from the end: a row's prefix of 3 is not its third column (the right-padded
    # model, causal with positions from the start, has them equal).
    outputs = {}
    for left in (True, False):
        _, _, model = _model(base_config, left)
        with torch.no_grad():
            every = every_position_outputs(model, SEQ, LENGTHS)
            prefix = model(SEQ[1:, :3], torch.tensor([3]))
        outputs[left] = (every[1, 2], prefix[0])
    assert not torch.allclose(*outputs[True], atol=1e-3)
    torch.testing.assert_close(*outputs[False], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("left", [True, False])
def test_trains_under_the_sequence_regime(base_config, left):
    config, train, model = _model(base_config, left)
    config["train_regime"] = "sequence"
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model.train())
    before = model.item_embedding.weight.detach().clone()
    trainer.fit(train, None, saved=False, show_progress=False)
    after = model.item_embedding.weight.detach()
    assert torch.isfinite(after).all() and not torch.equal(before, after)


def test_llmemb_on_the_anchor_reads_sasrec_defaults_and_uses_the_anchor_twice(base_config, llmemb_model):
    settings = {**base_config, **ANCHOR_SETTINGS, "anchor_left_padding": True, "llmemb_id_view": True}
    config = make_config(LLMEmbAnchorSASRec, "tiny", config_dict=settings)
    assert backbone_class(LLMEmbAnchorSASRec) is SASRec and config["hidden_act"] == "relu"
    model = llmemb_model(config, load_data(config)).eval()
    assert isinstance(model.id_view.encoder, AnchorSASRec) and hasattr(model, "final_norm")
    with torch.no_grad():
        scores = model.full_sort_predict({model.ITEM_SEQ: SEQ, model.ITEM_SEQ_LEN: LENGTHS})
    assert scores.shape == (2, model.n_items) and torch.isfinite(scores).all()
