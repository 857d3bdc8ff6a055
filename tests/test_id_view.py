"""The "LLMEmb + ID view" variant: two SASRec views whose scores add up, trained and extended."""

import pytest
import torch

from recbole_llmemb.data import load_data
from recbole_llmemb.model.sequence_loss import SequenceCrossEntropy
from recbole_llmemb.model.variants import residual_from_table
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.trainer import RATTrainer


def dual(base_config, llmemb_model, **settings):
    config = make_config(
        "LLMEmbSASRec", "tiny", config_dict={**base_config, "llmemb_id_view": True, **settings}
    )
    data = load_data(config)
    torch.manual_seed(0)
    return config, data, llmemb_model(config, data)


def test_a_score_is_the_sum_of_the_two_views_scores(base_config, llmemb_model):
    config, (_, train, _, test), model = dual(base_config, llmemb_model)
    model.eval()
    batch = next(iter(test))[0]
    seq, lengths = batch["item_id_list"], batch["item_length"]
    with torch.no_grad():
        llm = super(type(model), model).forward(seq, lengths) @ model.item_embedding.weight.T
        ids = model.id_view.encoder.forward(seq, lengths) @ model.id_view.encoder.item_embedding.weight.T
        scores = model.full_sort_predict(batch).view(len(seq), -1)
    torch.testing.assert_close(scores, llm + ids)
    one = model.predict(
        {**{k: batch[k] for k in ("item_id_list", "item_length")}, "item_id": batch["item_id"]}
    )
    torch.testing.assert_close(one, scores[torch.arange(len(seq)), batch["item_id"]])


def test_the_id_vectors_start_from_the_table_or_recboles_init(base_config, llmemb_model):
    _, _, model = dual(base_config, llmemb_model)
    table = model.item_embedding.table
    expected = residual_from_table(table, 16, 0.02)  # hidden 16 > the table's 8 components: zero-padded
    expected[0] = 0.0
    assert torch.equal(model.id_view.weight.detach(), expected)
    _, _, random = dual(base_config, llmemb_model, llmemb_id_view_init="random")
    assert random.id_view.weight[:, 8:].abs().sum() > 0  # RecBole's normal init fills every column


def test_dual_view_trains_under_both_regimes(base_config, llmemb_model):
    for regime in ("prefix", "sequence"):
        config, (_, train, valid, _), model = dual(
            base_config, llmemb_model, train_regime=regime, align_weight=0.0
        )
        trainer = RATTrainer(config, model)
        before = model.id_view.weight.detach().clone()
        trainer.fit(train, valid, saved=False)
        assert not torch.equal(before, model.id_view.weight.detach())
        assert (trainer.recommendation_loss.sequence_loss is not None) == (regime == "sequence")


def test_the_sequence_loss_scores_against_both_views(base_config, llmemb_model):
    config, (_, train, _, _), model = dual(base_config, llmemb_model, MAX_ITEM_LIST_LENGTH=20)
    model.eval()
    rows = train.dataset.inter_feat
    with torch.no_grad():  # histories fit the window: the prefix rows' mean loss is the sequence loss
        from recbole_llmemb.data.sequence_examples import sequence_train_data

        whole = sequence_train_data(train, model).dataset.inter_feat
        assert float(SequenceCrossEntropy(model)(whole)) == pytest.approx(
            float(model.calculate_loss(rows)), rel=1e-5
        )


def test_the_sampled_softmax_is_refused(base_config, llmemb_model):
    with pytest.raises(ValueError, match="llmemb_id_view: scores every item through both views"):
        dual(base_config, llmemb_model, sampled_softmax_negatives=8)
