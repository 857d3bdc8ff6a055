import json
import os
import sys

import pytest
import torch

from recbole_llmemb import pipeline
from recbole_llmemb.data import MissingDatasetError
from recbole_llmemb.trainer import RATTrainer


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_end_to_end_writes_comparison_and_reuses_pretrained_model(base_config, backbone, monkeypatch):
    outcome = pipeline.run_llmemb(backbone, "tiny", config_dict=dict(base_config, epochs=1))
    paths = outcome["results"]
    stem = os.path.join(base_config["results_dir"], f"tiny-{backbone}")
    assert paths == [
        *(f"{stem}-{p}{ext}" for p in ("full", "uni100") for ext in (".md", ".csv", ".json", "-groups.png")),
        f"{stem}-tsne.png",
    ]
    md_path, csv_path, json_path, groups_png, tsne_png = paths[0], paths[1], paths[2], paths[3], paths[-1]
    table = open(md_path).read()
    assert "tail HR@10" in table and "head NDCG@10" in table
    assert "- llm_pca_dim: 8" in table and "- freeze_llm_table: True" in table  # the switches this run used
    for png in (groups_png, tsne_png):
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert open(csv_path).readline().startswith("model,")
    assert f"| {backbone} |" in table and f"| LLMEmb{backbone} |" in table
    rows = json.load(open(json_path))["rows"]
    assert [r["model"] for r in rows] == [backbone, f"LLMEmb{backbone}"]
    for row in rows:
        assert 0.0 <= row["ndcg@10"] <= row["hit@10"] <= 1.0
        assert row["tail_users"] + row["head_users"] == 40  # every tiny test user, once
    plain = outcome["plain"]
    assert os.path.isfile(plain.checkpoint) and not os.path.exists(
        plain.checkpoint.replace(".pth", ".partial.pth")
    )

    # Second run: everything comes from the caches and is only re-tested.
    trained = []
    original = pipeline.train_and_test
    monkeypatch.setattr(
        pipeline,
        "train_and_test",
        lambda *a, **k: trained.append((a[1].__name__, k.get("train", True))) or original(*a, **k),
    )
    again = pipeline.run_llmemb(backbone, "tiny", config_dict=dict(base_config, epochs=1))
    assert trained == [(backbone, False), (f"LLMEmb{backbone}", False)]  # both from their caches
    assert again["plain"].test_result == plain.test_result
    # A re-test reports the seconds of the run that trained the model, not its own.
    assert again["plain"].cached and not plain.cached
    assert plain.seconds > 0 and again["plain"].seconds == plain.seconds
    assert again["timings"]["llmemb_s"] == outcome["timings"]["llmemb_s"]
    assert again["llmemb"].test_results == outcome["llmemb"].test_results
    # An LLMEmb-only setting retrains LLMEmb, never the plain backbone.
    trained.clear()
    no_adapter = dict(base_config, epochs=1, use_adapter=False)
    ablation = pipeline.run_llmemb(backbone, "tiny", config_dict=no_adapter)
    assert trained == [(backbone, False), (f"LLMEmb{backbone}", True)]
    assert "- llm_pca_dim: 16" in open(ablation["results"][0]).read()  # tiny's embedding size, not 8


def test_rat_aligns_to_the_pretrained_backbone(base_config, monkeypatch):
    targets = []
    init = RATTrainer.__init__

    def spy(self, config, model, align_target=None):
        init(self, config, model, align_target)
        targets.append(self.align_target)

    monkeypatch.setattr(RATTrainer, "__init__", spy)
    outcome = pipeline.run_llmemb("SASRec", "tiny", config_dict=dict(base_config, epochs=1, align_weight=0.1))
    import torch

    from recbole_llmemb.compat import load_recbole_checkpoint

    state = load_recbole_checkpoint(outcome["plain"].checkpoint)["state_dict"]
    assert torch.equal(targets[0], state["item_embedding.weight"])


def test_pretrained_cache_key_ignores_llm_settings_but_not_backbone_settings(base_config):
    from recbole_llmemb.utils import get_model

    def key(**overrides):
        return pipeline.pretrain_key(
            pipeline.make_config(get_model("SASRec"), "tiny", config_dict={**base_config, **overrides})
        )

    assert key() == key(align_weight=0.7, llm_pca_dim=4, adapter_activation="relu")
    assert key() != key(hidden_size=8)
    assert key() != key(seed=7)


def test_missing_dataset_names_the_files(base_config):
    with pytest.raises(MissingDatasetError, match=r"absent\.inter.*absent\.item"):
        pipeline.run_llmemb("SASRec", "absent", config_dict=base_config)


def test_unknown_backbone(base_config):
    with pytest.raises(ValueError, match="--model"):
        pipeline.run_llmemb("NARM", "tiny", config_dict=base_config)


def test_table_stage_stops_before_training(base_config):
    outcome = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="table")
    assert set(outcome) == {"timings"}
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert any(f.startswith("pca-") for f in os.listdir(cache))
    assert not any(f.startswith("pretrained-") for f in os.listdir(cache))


def test_pretrain_stage_trains_the_plain_backbone_without_the_llm(base_config):
    outcome = pipeline.run_llmemb("SASRec", "tiny", config_dict=dict(base_config, epochs=1), stage="pretrain")
    assert os.path.isfile(outcome["plain"].checkpoint) and "llm_table_s" not in outcome["timings"]
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert not any(f.startswith(("pca-", "scft-", "llm-table-")) for f in os.listdir(cache))


def test_baselines_are_extra_rows_on_the_same_split(base_config):
    outcome = pipeline.run_llmemb(
        "SASRec", "tiny", config_dict=dict(base_config, epochs=1), baselines=["SASRec", "GRU4Rec"]
    )
    assert [r.model for r in outcome["baselines"]] == ["GRU4Rec"]  # the backbone is not repeated
    table = open(outcome["results"][0]).read()
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:5]] == [
        "SASRec",
        "GRU4Rec",
        "LLMEmbSASRec",
    ]
    # Same split: the same test users, hence the same tail/head counts, for every row.
    rows = json.load(open(outcome["results"][2]))["rows"]
    assert len({(r["tail_users"], r["head_users"]) for r in rows}) == 1


def test_scft_stage_fine_tunes_then_exports_the_table_and_reuses_both(base_config):
    base_config = dict(base_config, scft=True)
    outcome = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="scft")
    assert set(outcome) == {"timings"}
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    runs = [f for f in os.listdir(cache) if f.startswith("scft-")]
    assert len(runs) == 1
    adapter = os.path.join(cache, runs[0], "adapter", "adapter_model.safetensors")
    assert os.path.isfile(adapter) and os.path.isfile(os.path.join(cache, runs[0], "scft.json"))
    tables = sorted(f for f in os.listdir(cache) if f.startswith("llm-table-"))
    stamp = os.path.getmtime(adapter)
    pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="table")  # same settings: reused
    assert os.path.getmtime(adapter) == stamp
    assert sorted(f for f in os.listdir(cache) if f.startswith("llm-table-")) == tables
    pipeline.run_llmemb("SASRec", "tiny", config_dict=dict(base_config, scft_lora_r=4), stage="table")
    assert len([f for f in os.listdir(cache) if f.startswith("scft-")]) == 2  # a setting changed: recomputed
    assert len([f for f in os.listdir(cache) if f.startswith("llm-table-")]) == 2
    with pytest.raises(ValueError, match="--stage=scft"):
        pipeline.run_llmemb("SASRec", "tiny", config_dict=dict(base_config, scft=False), stage="scft")


def test_scft_and_llmemb_only_settings_leave_the_plain_backbone_key_alone(base_config):
    from recbole.model.sequential_recommender import SASRec

    plain = pipeline.pretrain_key(pipeline.make_config(SASRec, "tiny", config_dict=base_config))
    for change in ({"scft_temperature": 0.3}, {"item_id_residual": True}, {"llm_table_norm": "standardize"}):
        config = pipeline.make_config(SASRec, "tiny", config_dict=dict(base_config, **change))
        assert pipeline.pretrain_key(config) == plain, change


def test_scft_seed_enters_the_llmemb_key_only_when_it_differs_from_seed(base_config):
    from recbole_llmemb import BACKBONES

    def config(**overrides):
        return pipeline.make_config(BACKBONES["SASRec"], "tiny", config_dict={**base_config, **overrides})

    same = config(seed=2020, scft_seed=2020)
    key = pipeline.config_key(same)
    del same.final_config_dict["scft_seed"]
    assert pipeline.config_key(same) == key  # the key from before the option existed: caches stay valid
    assert key != pipeline.config_key(config(seed=2020, scft_seed=7))
    assert pipeline.config_key(config(seed=7, scft_seed=7)) != pipeline.config_key(
        config(seed=7, scft_seed=2020)
    )


def test_later_options_at_their_neutral_value_keep_earlier_keys(base_config):
    from recbole_llmemb import BACKBONES

    config = pipeline.make_config(
        BACKBONES["SASRec"], "tiny", config_dict={**base_config, "adapter_experts": 0, "item_scale": False}
    )
    key = pipeline.config_key(config)
    del config.final_config_dict["adapter_experts"], config.final_config_dict["item_scale"]
    assert pipeline.config_key(config) == key  # a model cached before the options keeps its key
    scaled = pipeline.make_config(
        BACKBONES["SASRec"], "tiny", config_dict={**base_config, "item_scale": True}
    )
    assert pipeline.config_key(scaled) != key
    assert pipeline.pretrain_key(scaled) == pipeline.pretrain_key(config)  # plain backbones ignore it
    mixture = pipeline.make_config(
        BACKBONES["SASRec"], "tiny", config_dict={**base_config, "adapter_experts": 4}
    )
    assert pipeline.config_key(mixture) != key


def _variant(name: str) -> str:
    return os.path.join(os.path.dirname(pipeline.__file__), "..", "properties", "variants", name)


def test_paper_adapter_variant_file_gives_the_papers_linear_adapter(base_config):
    from torch import nn

    from recbole_llmemb import BACKBONES

    variant = _variant("paper-adapter.yaml")
    ours = pipeline.make_config(BACKBONES["SASRec"], "tiny", config_dict=base_config)
    paper = pipeline.make_config(BACKBONES["SASRec"], "tiny", [variant], base_config)
    assert ours["llm_table_norm"] == "standardize" and paper["llm_table_norm"] == "none"
    dataset = pipeline.load_data(paper)[1].dataset
    adapter = BACKBONES["SASRec"](paper, dataset).item_embedding.adapter
    assert [type(m) for m in adapter] == [nn.Linear, nn.Identity, nn.Linear]
    assert adapter[0].out_features == 4  # llm_pca_dim 8 // 2


@pytest.mark.parametrize(
    "variant, n_linear, in_dim",
    [("llm2x.yaml", 0, 16), ("said.yaml", 1, 8)],  # tiny: hidden_size 16, llm_pca_dim 8
)
def test_llm_baseline_variants_train_the_llm_table_without_alignment(base_config, variant, n_linear, in_dim):
    from torch import nn

    from recbole_llmemb import BACKBONES

    config = pipeline.make_config(BACKBONES["SASRec"], "tiny", [_variant(variant)], base_config)
    assert config["align_weight"] == 0.0 and config["freeze_llm_table"] is False
    train = pipeline.load_data(config)[1]
    model = BACKBONES["SASRec"](config, train.dataset)
    embedding = model.item_embedding
    assert isinstance(embedding.table, nn.Parameter) and embedding.table.shape[1] == in_dim
    assert sum(isinstance(m, nn.Linear) for m in embedding.adapter.modules()) == n_linear
    before = embedding.table.detach().clone()
    RATTrainer(config, model)._train_epoch(train, 0)  # no pretrained model needed: no alignment
    assert not torch.equal(embedding.table, before)


def test_one_negative_variant_is_the_papers_regime_and_gets_its_own_plain_cache(base_config):
    """one-negative.yaml (RecBole's BPR loss, one sampled negative: the authors' training) runs
    through the whole pipeline, and its plain backbone is cached apart from the CE one."""
    from recbole_llmemb import BACKBONES

    variant = [_variant("one-negative.yaml")]
    ce = pipeline.run_llmemb("SASRec", "tiny", config_dict=dict(base_config, epochs=1), stage="pretrain")
    outcome = pipeline.run_llmemb("SASRec", "tiny", variant, config_dict=dict(base_config, epochs=1))
    assert outcome["plain"].checkpoint != ce["plain"].checkpoint
    assert 0.0 <= outcome["llmemb"].test_result["ndcg@10"] <= outcome["llmemb"].test_result["hit@10"] <= 1.0

    config = pipeline.make_config(BACKBONES["SASRec"], "tiny", variant, dict(base_config, align_weight=0))
    assert config["train_neg_sample_args"]["sample_num"] == 1
    train = pipeline.load_data(config)[1]
    model = BACKBONES["SASRec"](config, train.dataset)
    trainer = RATTrainer(config, model)
    losses = [trainer._train_epoch(train, epoch)[0] for epoch in range(4)]
    assert model.loss_type == "BPR" and losses[-1] < losses[0]


def test_killed_run_resumes_from_its_partial_checkpoint(base_config, monkeypatch):
    from recbole_llmemb.compat import load_recbole_checkpoint

    config = dict(base_config, epochs=4, stopping_step=10)
    plain = pipeline.run_llmemb("SASRec", "tiny", config_dict=config, stage="pretrain")["plain"]
    train_epoch = RATTrainer._train_epoch
    epochs, first_weights = [], []

    def interrupted(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 2:
            raise KeyboardInterrupt
        return train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(RATTrainer, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_llmemb("SASRec", "tiny", config_dict=config)
    folder = os.path.dirname(plain.checkpoint)
    (partial,) = [os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("LLMEmbSASRec")]
    assert partial.endswith(".partial.pth")
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]  # no temp file left behind
    saved = load_recbole_checkpoint(partial)
    assert saved["epoch"] in (0, 1)

    def spy(self, train_data, epoch_idx, *args, **kwargs):
        if not epochs:
            first_weights.append({k: v.clone() for k, v in self.model.state_dict().items()})
        epochs.append(epoch_idx)
        return train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(RATTrainer, "_train_epoch", spy)
    outcome = pipeline.run_llmemb("SASRec", "tiny", config_dict=config)
    assert epochs == list(range(saved["epoch"] + 1, 4))  # only the epochs the killed run had not done
    for name, value in saved["state_dict"].items():
        assert torch.equal(first_weights[0][name], value), name
    llmemb = outcome["llmemb"]
    assert llmemb.resumed_at_epoch == saved["epoch"] + 1
    assert os.path.isfile(llmemb.checkpoint) and not os.path.exists(partial)
    assert json.load(open(f"{llmemb.checkpoint}.json"))["resumed_at_epoch"] == saved["epoch"] + 1
    report = open(outcome["results"][0]).read()
    assert (
        f"llmemb_resumed_at_epoch: {saved['epoch'] + 1}" in report and "plain_resumed_at_epoch" not in report
    )


def test_checkpoint_save_killed_midway_keeps_the_previous_file(base_config, monkeypatch):
    plain = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="pretrain")["plain"]
    before = open(plain.checkpoint, "rb").read()
    from recbole_llmemb.pipeline import load_data, make_config
    from recbole_llmemb.trainer import CompatTrainer
    from recbole_llmemb.utils import get_model

    config = make_config(get_model("SASRec"), "tiny", config_dict=base_config)
    _, train_data, _, _ = load_data(config)
    trainer = CompatTrainer(config, get_model("SASRec")(config, train_data.dataset))
    trainer.saved_model_file = plain.checkpoint

    def killed_save(state, file, *args, **kwargs):
        (open(file, "wb") if isinstance(file, str) else file).write(b"truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_save)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint(0)
    assert open(plain.checkpoint, "rb").read() == before
    assert not [f for f in os.listdir(os.path.dirname(plain.checkpoint)) if f.endswith(".tmp")]


def test_retest_reports_the_seconds_of_the_training_run_exactly(base_config, monkeypatch):
    # Each reading 1.34962 s later: 1.34962 rounds to 1.3, but its record (1.350) to 1.4.
    class Clock:
        now = 0.0

        def time(self):
            self.now += 1.34962
            return self.now

    monkeypatch.setattr(pipeline, "time", Clock())
    first = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="pretrain")
    again = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="pretrain")
    assert again["plain"].cached
    assert first["timings"]["plain_s"] == again["timings"]["plain_s"] == 1.4


def test_unreadable_partial_checkpoint_is_a_clear_error(base_config):
    plain = pipeline.run_llmemb("SASRec", "tiny", config_dict=base_config, stage="pretrain")["plain"]
    other = dict(base_config, learning_rate=0.002)  # another plain key: its own partial path
    config = pipeline.make_config(pipeline.get_model("SASRec"), "tiny", config_dict=other)
    name = f"pretrained-SASRec-{pipeline.pretrain_key(config)}.partial.pth"
    path = os.path.join(os.path.dirname(plain.checkpoint), name)
    open(path, "wb").write(b"truncated")
    with pytest.raises(ValueError, match="delete the file to train from scratch") as error:
        pipeline.run_llmemb("SASRec", "tiny", config_dict=other, stage="pretrain")
    assert path in str(error.value)


def test_a_number_written_as_int_or_float_is_one_setting_and_one_cache_key(base_config, monkeypatch):
    from recbole_llmemb import BACKBONES

    def key(argv: list[str]) -> tuple[str, object, object]:
        monkeypatch.setattr(sys, "argv", ["run", *argv])
        config = pipeline.make_config(BACKBONES["SASRec"], "tiny", config_dict=base_config)
        return pipeline.config_key(config), config["align_weight"], config["epochs"]

    as_int, weight, epochs = key(["--align_weight=1", "--epochs=3"])
    assert (weight, epochs) == (1.0, 3) and isinstance(weight, float) and isinstance(epochs, int)
    assert key(["--align_weight=1.0", "--epochs=3.0"])[0] == as_int
    assert key(["--align_weight=1.5", "--epochs=3"])[0] != as_int
    assert key(["--align_weight=1", "--epochs=3.5"])[2] == 3.5  # not a whole number: left as given


@pytest.mark.parametrize(
    "name, keys", [("SASRec", ("hidden_dropout_prob", "attn_dropout_prob")), ("GRU4Rec", ("dropout_prob",))]
)
def test_llmemb_dropout_prob_sets_the_llmemb_models_dropout_and_not_the_plain_backbones(
    base_config, name, keys
):
    from recbole_llmemb import BACKBONES

    llmemb_class = BACKBONES[name]
    settings = dict(base_config, llmemb_dropout_prob=0.05)
    plain = pipeline.make_config(llmemb_class.backbone, "tiny", config_dict=settings)
    llmemb = pipeline.make_config(llmemb_class, "tiny", config_dict=settings)
    unset = pipeline.make_config(llmemb_class, "tiny", config_dict=base_config)
    for key in keys:
        assert llmemb[key] == 0.05 and plain[key] == unset[key] > 0.05
    assert pipeline.pretrain_key(plain) == pipeline.pretrain_key(
        pipeline.make_config(llmemb_class.backbone, "tiny", config_dict=base_config)
    )
    assert pipeline.config_key(llmemb) != pipeline.config_key(unset)
    model = llmemb_class(llmemb, pipeline.load_data(llmemb)[1].dataset)
    probabilities = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert probabilities == {0.05}
    with pytest.raises(ValueError, match="llmemb_dropout_prob"):
        pipeline.make_config(llmemb_class, "tiny", config_dict=dict(base_config, llmemb_dropout_prob=1.5))
