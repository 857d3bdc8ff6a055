"""The sampled softmax with log-Q correction: the formula by hand, the limit of full CE, the pipeline."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recbole_llmemb import quick_start
from recbole_llmemb.data import load_data
from recbole_llmemb.model.sampled_softmax import SampledSoftmaxLoss
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.trainer import LongTailTrainer, RATTrainer


class QueryModel:
    """The least a SASRec-like model offers the loss: fixed queries and an item table."""

    ITEM_SEQ, ITEM_SEQ_LEN, POS_ITEM_ID = "seq", "len", "pos"

    def __init__(self, queries: torch.Tensor, table: torch.Tensor):
        self.queries, self.item_embedding = queries, nn.Embedding.from_pretrained(table)

    def forward(self, seq, lengths):
        return self.queries


def test_the_corrected_loss_equals_a_hand_computation():
    rng = np.random.default_rng(0)
    queries, table = rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    counts = np.array([0, 3, 1, 0, 2, 2])  # training targets per item; item 0 is padding
    model = QueryModel(torch.tensor(queries, dtype=torch.float32), torch.tensor(table, dtype=torch.float32))
    loss = SampledSoftmaxLoss(model, 4, counts)
    targets, negatives = torch.tensor([1, 4, 1]), torch.tensor([2, 5, 2, 3])
    items, columns, log_expected = loss.candidates(targets, negatives)
    assert items.tolist() == [1, 2, 3, 4, 5] and columns.tolist() == [0, 3, 0]  # duplicates merged
    expected = 3 * counts[[1, 2, 3, 4, 5]] / counts.sum() + 4 * np.full(5, 1 / 5)  # B p_target + K q
    np.testing.assert_allclose(log_expected.numpy(), np.log(expected), rtol=1e-6)
    logits = queries @ table[[1, 2, 3, 4, 5]].T - np.log(expected)
    by_hand = np.mean([np.log(np.exp(row).sum()) - row[c] for row, c in zip(logits, [0, 3, 0], strict=True)])
    loss.candidates = lambda targets: (items, columns, log_expected)  # the same draw as above
    batch = {"seq": None, "len": None, "pos": targets}
    assert float(loss(batch)) == pytest.approx(by_hand, rel=1e-5)
    popular = SampledSoftmaxLoss(model, 4, counts, proposal="popularity", beta=0.5)
    np.testing.assert_allclose(popular.proposal.numpy(), np.sqrt(counts) / np.sqrt(counts).sum())


def tiny_sasrec(base_config, **settings):
    config = make_config("SASRec", "tiny", config_dict={**base_config, **settings})
    data = load_data(config)
    torch.manual_seed(0)
    return config, data, config.model_class(config, data[1].dataset)


def test_with_every_item_drawn_many_times_the_loss_tends_to_full_cross_entropy(base_config):
    _, (_, train, _, _), model = tiny_sasrec(base_config)
    model.eval()  # no dropout: both losses see one network
    batch = next(iter(train))
    counts = np.bincount(batch["item_id"].numpy(), minlength=model.n_items)
    with torch.no_grad():
        queries = model.forward(batch["item_id_list"], batch["item_length"])
        weights = model.item_embedding.weight[1:]
        full = F.cross_entropy(queries @ weights.T, batch["item_id"] - 1)  # all items but the padding
        sampled = [float(SampledSoftmaxLoss(model, k, counts)(batch)) for k in (16, 4_000_000)]
    assert abs(sampled[1] - float(full)) < 2e-3 < abs(sampled[0] - float(full))


@pytest.mark.parametrize("backbone", ["SASRec", "BERT4Rec"])
def test_llmemb_trains_with_it_adapting_only_history_and_candidate_rows(base_config, backbone):
    settings = {
        **base_config,
        "sampled_softmax_negatives": 4,
        "train_batch_size": 4,
    }  # small batches: few rows
    config = make_config(f"LLMEmb{backbone}", "tiny", config_dict=settings)
    data = load_data(config)
    prepare_table(config, data[0])
    model = config.model_class(config, data[1].dataset)
    assert model.item_embedding.row_lookup
    rows, prefetched = [], []
    embedding = model.item_embedding
    embedding.adapter.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    prefetch = embedding.prefetch
    embedding.prefetch = lambda ids: prefetched.append(len(torch.unique(ids))) or prefetch(ids)
    trainer = RATTrainer(config, model, align_target=torch.randn(model.n_items, 16))
    losses = [trainer._train_epoch(data[1], epoch)[0] for epoch in range(2)]
    assert trainer.recommendation_loss.sampled_softmax is not None and all(np.isfinite(losses))
    assert rows == prefetched  # one adapter pass per step, over the history and candidate rows only
    assert min(rows) < model.n_items - 1


def test_plain_and_llmemb_run_end_to_end_and_bpr_with_it_is_refused(base_config):
    settings = dict(base_config, epochs=1, sampled_softmax_negatives=8, sampled_softmax_proposal="popularity")
    outcome = quick_start.run("SASRec", "tiny", config_dict=settings)
    for name in ("plain", "llmemb"):
        assert 0.0 <= outcome[name]["test_result"]["ndcg@10"] <= outcome[name]["test_result"]["hit@10"] <= 1.0
    config, (_, train, _, _), model = tiny_sasrec(
        base_config,
        sampled_softmax_negatives=8,
        loss_type="BPR",
        train_neg_sample_args={"distribution": "uniform", "sample_num": 1},
    )
    with pytest.raises(ValueError, match="sampled_softmax_negatives: replaces the CE loss; loss_type is BPR"):
        LongTailTrainer(config, model)._train_epoch(train, 0)
