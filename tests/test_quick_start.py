import json
import os
import sys

import pytest
import torch

from recbole_llmemb import quick_start
from recbole_llmemb.artifacts.checkpoints import pretrain_key, training_settings
from recbole_llmemb.artifacts.fingerprints import key_of
from recbole_llmemb.data import MissingDatasetError, load_data
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.settings import overall_defaults
from recbole_llmemb.trainer import LongTailTrainer, RATTrainer, cached_training


@pytest.fixture
def trained(monkeypatch) -> list[tuple[str, bool]]:
    """``(model, trained?)`` of every train_and_test call: which models trained, which were re-tested."""
    calls = []
    original = cached_training.train_and_test
    monkeypatch.setattr(
        cached_training,
        "train_and_test",
        lambda *a, **k: calls.append((a[1].__name__, k.get("train", True))) or original(*a, **k),
    )
    return calls


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec", "BERT4Rec"])
def test_end_to_end_writes_comparison_and_reuses_pretrained_model(base_config, backbone, trained):
    outcome = quick_start.run(backbone, "tiny", config_dict=dict(base_config, epochs=1))
    paths = outcome["results"]
    key = outcome["llmemb"]["checkpoint"].rsplit("-", 1)[-1][:8]  # reports are named by the run's key
    stem = os.path.join(base_config["results_dir"], f"tiny-{backbone}-{key}")
    assert paths == [
        *(f"{stem}-{p}{ext}" for p in ("full", "uni100") for ext in (".md", ".csv", ".json", "-groups.png")),
        f"{stem}-tsne.png",
    ]
    md_path, csv_path, json_path, groups_png, tsne_png = paths[0], paths[1], paths[2], paths[3], paths[-1]
    table = open(md_path).read()
    assert "tail HR@10" in table and "head NDCG@10" in table
    assert "- llm_pca_dim: 8" in table and "- freeze_llm_table: True" in table  # the switches this run used
    assert f"- llmemb checkpoint: {outcome['llmemb']['checkpoint']}" in table  # what produced it
    assert f"- {backbone} checkpoint: {outcome['plain']['checkpoint']}" in table
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
    assert os.path.isfile(plain["checkpoint"]) and not os.path.exists(
        plain["checkpoint"].replace(".pth", ".partial.pth")
    )
    # RecBole's result dict: the best validation score is the valid_metric of the best validation result.
    assert plain["best_valid_score"] == plain["best_valid_result"]["ndcg@10"] and plain["valid_score_bigger"]
    assert plain["test_result"] == plain["test_results"]["full"]

    assert trained == [(backbone, True), (f"LLMEmb{backbone}", True)]  # the first run trains both
    # Second run: everything comes from the caches and is only re-tested.
    trained.clear()
    again = quick_start.run(backbone, "tiny", config_dict=dict(base_config, epochs=1))
    assert trained == [(backbone, False), (f"LLMEmb{backbone}", False)]  # both from their caches
    assert again["plain"]["test_result"] == plain["test_result"]
    # A re-test reports the seconds and validation of the run that trained the model, not its own.
    assert again["plain"]["cached"] and not plain["cached"]
    assert plain["seconds"] > 0 and again["plain"]["seconds"] == plain["seconds"]
    assert again["plain"]["best_valid_score"] == plain["best_valid_score"]
    assert again["timings"]["llmemb_s"] == outcome["timings"]["llmemb_s"]
    assert again["llmemb"]["test_results"] == outcome["llmemb"]["test_results"]
    # An LLMEmb-only setting retrains LLMEmb, never the plain backbone.
    trained.clear()
    no_adapter = dict(base_config, epochs=1, use_adapter=False)
    ablation = quick_start.run(backbone, "tiny", config_dict=no_adapter)
    assert trained == [(backbone, False), (f"LLMEmb{backbone}", True)]
    assert "- llm_pca_dim: 16" in open(ablation["results"][0]).read()  # tiny's embedding size, not 8


def test_rat_aligns_to_the_pretrained_backbone(base_config, monkeypatch):
    targets = []
    init = RATTrainer.__init__

    def spy(self, config, model, align_target=None):
        init(self, config, model, align_target)
        targets.append(self.align_target)

    monkeypatch.setattr(RATTrainer, "__init__", spy)
    outcome = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1, align_weight=0.1))
    from recbole_llmemb.compat import load_recbole_checkpoint

    state = load_recbole_checkpoint(outcome["plain"]["checkpoint"])["state_dict"]
    assert torch.equal(targets[0], state["item_embedding.weight"])


def test_pretrained_cache_key_ignores_llm_settings_but_not_backbone_settings(base_config):
    def key(**overrides):
        return pretrain_key(make_config("SASRec", "tiny", config_dict={**base_config, **overrides}))

    assert key() == key(align_weight=0.7, llm_pca_dim=4, adapter_activation="relu")
    assert key() != key(hidden_size=8)
    assert key() != key(seed=7)


def test_missing_dataset_names_the_files(base_config):
    with pytest.raises(MissingDatasetError, match=r"absent\.inter.*absent\.item"):
        quick_start.run("SASRec", "absent", config_dict=base_config)


def test_unknown_backbone(base_config):
    with pytest.raises(ValueError, match="--model"):
        quick_start.run("NARM", "tiny", config_dict=base_config)


def test_table_stage_stops_before_training(base_config):
    outcome = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="table")
    assert set(outcome) == {"table_file", "timings"}
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert os.path.basename(outcome["table_file"]).startswith("pca-") and os.path.isfile(
        outcome["table_file"]
    )
    assert not any(f.startswith("pretrained-") for f in os.listdir(cache))


def test_pretrain_stage_trains_the_plain_backbone_without_the_llm(base_config):
    outcome = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1), stage="pretrain")
    assert os.path.isfile(outcome["plain"]["checkpoint"]) and "llm_table_s" not in outcome["timings"]
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert not any(f.startswith(("pca-", "scft-", "llm-table-")) for f in os.listdir(cache))
    # Its report: the plain row alone, named by the plain model's key, listed in the index.
    key = outcome["plain"]["key"][:8]
    stem = os.path.join(base_config["results_dir"], f"tiny-SASRec-{key}")
    assert outcome["results"][0] == f"{stem}-full.md"
    report = json.load(open(f"{stem}-full.json"))
    assert [row["model"] for row in report["rows"]] == ["SASRec"]
    assert report["rows"][0]["ndcg@10"] == outcome["plain"]["test_results"]["full"]["ndcg@10"]
    assert report["meta"]["run key"] == outcome["plain"]["key"]
    assert report["meta"]["training loss"] == "CE"
    assert f"tiny-SASRec-{key}-full" in open(os.path.join(base_config["results_dir"], "index.md")).read()


def test_reports_name_the_training_loss():
    defaults = overall_defaults()
    sampled = {
        **defaults,
        "sampled_softmax_negatives": 64,
        "sampled_softmax_proposal": "uniform",
        "loss_type": "CE",
    }
    assert quick_start._loss_name({**defaults, "sampled_softmax_negatives": 0, "loss_type": "BPR"}) == "BPR"
    assert quick_start._loss_name(sampled) == "sampled softmax, 64 uniform negatives, log-Q corrected"
    popularity = {**sampled, "sampled_softmax_proposal": "popularity", "sampled_softmax_beta": 0.5}
    assert (
        quick_start._loss_name(popularity) == "sampled softmax, 64 popularity^0.5 negatives, log-Q corrected"
    )


def test_baselines_are_extra_rows_on_the_same_split(base_config):
    outcome = quick_start.run(
        "SASRec", "tiny", config_dict=dict(base_config, epochs=1), baselines=["SASRec", "GRU4Rec"]
    )
    assert [r["model"] for r in outcome["baselines"]] == ["GRU4Rec"]  # the backbone is not repeated
    table = open(outcome["results"][0]).read()
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:5]] == [
        "SASRec",
        "GRU4Rec",
        "LLMEmbSASRec",
    ]
    # Same split: the same test users, hence the same tail/head counts, for every row.
    rows = json.load(open(outcome["results"][2]))["rows"]
    assert len({(r["tail_users"], r["head_users"]) for r in rows}) == 1


def test_scft_stage_fine_tunes_and_the_table_stage_reuses_it(base_config):
    base_config = dict(base_config, scft=True)
    outcome = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="scft")
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    runs = [f for f in os.listdir(cache) if f.startswith("scft-")]
    assert len(runs) == 1 and outcome["scft_dir"] == os.path.join(cache, runs[0])
    assert outcome["report"]["steps"] == 2
    adapter = os.path.join(cache, runs[0], "adapter", "adapter_model.safetensors")
    assert os.path.isfile(adapter) and os.path.isfile(os.path.join(cache, runs[0], "scft.json"))
    assert not any(f.startswith(("llm-table-", "pca-")) for f in os.listdir(cache))  # the last stage was scft
    stamp = os.path.getmtime(adapter)
    quick_start.run("SASRec", "tiny", config_dict=base_config, stage="table")  # same settings: SCFT reused
    assert os.path.getmtime(adapter) == stamp
    assert len([f for f in os.listdir(cache) if f.startswith("llm-table-") and f.endswith(".npz")]) == 1
    quick_start.run("SASRec", "tiny", config_dict=dict(base_config, scft_lora_r=4), stage="table")
    assert len([f for f in os.listdir(cache) if f.startswith("scft-")]) == 2  # a setting changed: recomputed
    assert len([f for f in os.listdir(cache) if f.startswith("llm-table-") and f.endswith(".npz")]) == 2
    with pytest.raises(ValueError, match="--stage=scft"):
        quick_start.run("SASRec", "tiny", config_dict=dict(base_config, scft=False), stage="scft")


def test_scft_and_llmemb_only_settings_leave_the_plain_backbone_key_alone(base_config):
    plain = pretrain_key(make_config("SASRec", "tiny", config_dict=base_config))
    for change in ({"scft_temperature": 0.3}, {"item_id_residual": True}, {"llm_table_norm": "standardize"}):
        config = make_config("SASRec", "tiny", config_dict=dict(base_config, **change))
        assert pretrain_key(config) == plain, change


def config_key(config) -> str:
    """The settings part of an LLMEmb model's key."""
    return key_of(training_settings(config))


def test_scft_seed_and_paths_in_the_llmemb_key(base_config, tmp_path):
    def config(**overrides):
        return make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, **overrides})

    assert config_key(config(scft_seed=2020)) != config_key(config(scft_seed=7))
    # Paths never enter a key: their contents do (the data, LLM and table fingerprints).
    moved = config(
        data_path=str(tmp_path / "elsewhere"), llm_path=str(tmp_path / "llm"), pretrained_srs_file="x.pth"
    )
    assert config_key(moved) == config_key(config())


def test_paper_adapter_variant_gives_the_papers_linear_adapter(base_config, llmemb_model):
    from torch import nn

    ours = make_config("LLMEmbSASRec", "tiny", config_dict=base_config)
    paper = make_config("LLMEmbSASRec", "tiny", ["paper-adapter"], base_config)
    assert ours["llm_table_norm"] == "standardize" and paper["llm_table_norm"] == "none"
    adapter = llmemb_model(paper, load_data(paper)).item_embedding.adapter
    assert [type(m) for m in adapter] == [nn.Linear, nn.Identity, nn.Linear]
    assert adapter[0].out_features == 4  # llm_pca_dim 8 // 2


@pytest.mark.parametrize(
    "variant, n_linear, in_dim",
    [("llm2x.yaml", 0, 16), ("said.yaml", 1, 8)],  # tiny: hidden_size 16, llm_pca_dim 8
)
def test_llm_baseline_variants_train_the_llm_table_without_alignment(
    base_config, llmemb_model, variant, n_linear, in_dim
):
    from torch import nn

    # The variant's file as the docs of earlier versions name it; found in the installed package.
    config = make_config("LLMEmbSASRec", "tiny", [f"properties/variants/{variant}"], base_config)
    assert config["align_weight"] == 0.0 and config["freeze_llm_table"] is False
    data = load_data(config)
    train = data[1]
    model = llmemb_model(config, data)
    embedding = model.item_embedding
    assert isinstance(embedding.table, nn.Parameter) and embedding.table.shape[1] == in_dim
    assert sum(isinstance(m, nn.Linear) for m in embedding.adapter.modules()) == n_linear
    before = embedding.table.detach().clone()
    RATTrainer(config, model)._train_epoch(train, 0)  # no pretrained model needed: no alignment
    assert not torch.equal(embedding.table, before)


def test_one_negative_variant_is_the_papers_regime_and_gets_its_own_plain_cache(base_config, llmemb_model):
    """one-negative.yaml (RecBole's BPR loss, one sampled negative: the authors' training) runs
    through the whole pipeline, and its plain backbone is cached apart from the CE one."""
    variant = ["one-negative"]
    ce = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1), stage="pretrain")
    outcome = quick_start.run("SASRec", "tiny", variant, config_dict=dict(base_config, epochs=1))
    assert outcome["plain"]["checkpoint"] != ce["plain"]["checkpoint"]
    result = outcome["llmemb"]["test_result"]
    assert 0.0 <= result["ndcg@10"] <= result["hit@10"] <= 1.0

    config = make_config("LLMEmbSASRec", "tiny", variant, dict(base_config, align_weight=0))
    assert config["train_neg_sample_args"]["sample_num"] == 1
    data = load_data(config)
    train = data[1]
    model = llmemb_model(config, data)
    trainer = RATTrainer(config, model)
    losses = [trainer._train_epoch(train, epoch)[0] for epoch in range(4)]
    assert model.loss_type == "BPR" and losses[-1] < losses[0]


def test_killed_run_resumes_from_its_partial_checkpoint(base_config, monkeypatch):
    from recbole_llmemb.compat import load_recbole_checkpoint

    config = dict(base_config, epochs=4, stopping_step=10)
    plain = quick_start.run("SASRec", "tiny", config_dict=config, stage="pretrain")["plain"]
    train_epoch = RATTrainer._train_epoch
    epochs, first_weights = [], []

    def interrupted(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 2:
            raise KeyboardInterrupt
        return train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(RATTrainer, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quick_start.run("SASRec", "tiny", config_dict=config)
    folder = os.path.dirname(plain["checkpoint"])
    (partial,) = [
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.startswith("LLMEmbSASRec") and f.endswith(".pth")
    ]
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
    outcome = quick_start.run("SASRec", "tiny", config_dict=config)
    assert epochs == list(range(saved["epoch"] + 1, 4))  # only the epochs the killed run had not done
    for name, value in saved["state_dict"].items():
        assert torch.equal(first_weights[0][name], value), name
    llmemb = outcome["llmemb"]
    assert llmemb["resumed_at_epoch"] == saved["epoch"] + 1
    assert os.path.isfile(llmemb["checkpoint"]) and not os.path.exists(partial)
    assert json.load(open(f"{llmemb['checkpoint']}.json"))["resumed_at_epoch"] == saved["epoch"] + 1
    report = open(outcome["results"][0]).read()
    assert (
        f"llmemb_resumed_at_epoch: {saved['epoch'] + 1}" in report and "plain_resumed_at_epoch" not in report
    )


def test_checkpoint_save_killed_midway_keeps_the_previous_file(base_config, monkeypatch):
    plain = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="pretrain")["plain"]
    before = open(plain["checkpoint"], "rb").read()
    config = make_config("SASRec", "tiny", config_dict=base_config)
    _, train_data, _, _ = load_data(config)
    trainer = LongTailTrainer(config, config.model_class(config, train_data.dataset))
    trainer.saved_model_file = plain["checkpoint"]

    def killed_save(state, file, *args, **kwargs):
        (open(file, "wb") if isinstance(file, str) else file).write(b"truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_save)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint(0)
    assert open(plain["checkpoint"], "rb").read() == before
    assert not [f for f in os.listdir(os.path.dirname(plain["checkpoint"])) if f.endswith(".tmp")]


def test_retest_reports_the_seconds_of_the_training_run_exactly(base_config, monkeypatch):
    # Each reading 1.34962 s later: 1.34962 rounds to 1.3, but its record (1.350) to 1.4.
    class Clock:
        now = 0.0

        def time(self):
            self.now += 1.34962
            return self.now

    monkeypatch.setattr(cached_training, "time", Clock())
    first = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="pretrain")
    again = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="pretrain")
    assert again["plain"]["cached"]
    assert first["timings"]["plain_s"] == again["timings"]["plain_s"] == 1.4


def test_unreadable_partial_checkpoint_is_a_clear_error(base_config):
    plain = quick_start.run("SASRec", "tiny", config_dict=base_config, stage="pretrain")["plain"]
    other = dict(base_config, learning_rate=0.002)  # another plain key: its own partial path
    config = make_config("SASRec", "tiny", config_dict=other)
    name = f"pretrained-SASRec-{pretrain_key(config)}.partial.pth"
    path = os.path.join(os.path.dirname(plain["checkpoint"]), name)
    open(path, "wb").write(b"truncated")
    with pytest.raises(ValueError, match="no record of its inputs") as error:
        quick_start.run("SASRec", "tiny", config_dict=other, stage="pretrain")
    assert path in str(error.value) and "delete" in str(error.value)
    from recbole_llmemb.artifacts.records import write_record

    write_record(path, pretrain_key(config), "0" * 64)  # a record of other bytes: the file was cut short
    with pytest.raises(ValueError, match="bytes changed since it was written") as error:
        quick_start.run("SASRec", "tiny", config_dict=other, stage="pretrain")
    assert path in str(error.value) and len(str(error.value).splitlines()) == 1


def test_a_number_written_as_int_or_float_is_one_setting_and_one_cache_key(base_config):
    from recbole_llmemb.cli import parse_args

    def key(argv: list[str]) -> tuple[str, object, object]:
        _, settings = parse_args(argv)  # the command line's texts, as the CLI passes them on
        config = make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, **settings})
        return config_key(config), config["align_weight"], config["epochs"]

    as_int, weight, epochs = key(["--align_weight=1", "--epochs=3"])
    assert (weight, epochs) == (1.0, 3) and isinstance(weight, float) and isinstance(epochs, int)
    assert key(["--align_weight=1.0", "--epochs=3.0"])[0] == as_int
    assert key(["--align_weight=1.5", "--epochs=3"])[0] != as_int
    with pytest.raises(ValueError, match="epochs: 3.5 is not a whole number >= 1"):
        key(["--align_weight=1", "--epochs=3.5"])  # not a whole number: refused, never rounded


def test_settings_flow_only_through_config_dict_never_sys_argv(base_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_llmemb.py", "--epochs=7", "--seed=5"])
    given = {**base_config, "epochs": 3}
    config = make_config("SASRec", "tiny", config_dict=given)
    assert (config["epochs"], config["seed"]) == (3, 2020)
    assert given["epochs"] == 3 and "--epochs" not in str(config.final_config_dict)


@pytest.mark.parametrize(
    "name, keys", [("SASRec", ("hidden_dropout_prob", "attn_dropout_prob")), ("GRU4Rec", ("dropout_prob",))]
)
def test_llmemb_dropout_prob_sets_the_llmemb_models_dropout_and_not_the_plain_backbones(
    base_config, llmemb_model, name, keys
):
    settings = dict(base_config, llmemb_dropout_prob=0.05)
    plain = make_config(name, "tiny", config_dict=settings)
    llmemb = make_config(f"LLMEmb{name}", "tiny", config_dict=settings)
    unset = make_config(f"LLMEmb{name}", "tiny", config_dict=base_config)
    for key in keys:
        assert llmemb[key] == 0.05 and plain[key] == unset[key] > 0.05
    assert pretrain_key(plain) == pretrain_key(make_config(name, "tiny", config_dict=base_config))
    assert config_key(llmemb) != config_key(unset)
    model = llmemb_model(llmemb, load_data(llmemb))
    probabilities = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert probabilities == {0.05}
    with pytest.raises(ValueError, match="llmemb_dropout_prob"):
        make_config(f"LLMEmb{name}", "tiny", config_dict=dict(base_config, llmemb_dropout_prob=1.5))


def test_model_constructor_only_loads_its_table_and_starts_the_same_cold_or_warm(base_config, monkeypatch):
    from recbole_llmemb.llm import scft_trainer, table_export
    from recbole_llmemb.llm.table_stage import MissingTableError

    config = make_config("LLMEmbSASRec", "tiny", config_dict=dict(base_config, scft=True))
    data = load_data(config)
    with pytest.raises(MissingTableError, match="--stage=table --model=LLMEmbSASRec --dataset=tiny"):
        config.model_class(config, data[1].dataset)

    def initial_weights():
        torch.manual_seed(7)
        prepare_table(config, data[0])  # cold: SCFT, export and PCA run here; warm: all reused
        return config.model_class(config, data[1].dataset).state_dict()

    cold = initial_weights()
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert any(f.startswith("scft-") for f in os.listdir(cache))

    def refuse(*args, **kwargs):
        raise AssertionError("the LLM ran although its artifacts exist")

    monkeypatch.setattr(table_export, "load_llm", refuse)
    monkeypatch.setattr(scft_trainer, "lora_model", refuse)
    warm = initial_weights()
    assert cold.keys() == warm.keys()
    for name, value in cold.items():
        assert torch.equal(value, warm[name]), name


def _users_own_plain_sasrec(base_config, folder) -> str:
    """A plain SASRec trained with RecBole's own Config, data and Trainer, as a user would have it."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer

    keys = ("data_path", "hidden_size", "inner_size", "n_layers", "n_heads", "MAX_ITEM_LIST_LENGTH", "seed")
    settings = {key: base_config[key] for key in keys}
    settings.update(
        epochs=1, train_neg_sample_args=None, use_gpu=False, show_progress=False, state="WARNING",
        checkpoint_dir=str(folder), load_col={"inter": ["user_id", "item_id", "timestamp"]},
    )  # fmt: skip
    config = Config(model="SASRec", dataset="tiny", config_dict=settings)
    dataset = create_dataset(config)
    train, valid, _ = data_preparation(config, dataset)
    trainer = Trainer(config, SASRec(config, train.dataset))
    trainer.fit(train, valid, saved=True)
    return trainer.saved_model_file


def test_llmemb_alone_trains_against_the_users_own_plain_checkpoint(base_config, tmp_path):
    settings = dict(base_config, epochs=1)
    with pytest.raises(FileNotFoundError, match="--model=SASRec --stage=pretrain") as missing:
        quick_start.run("LLMEmbSASRec", "tiny", config_dict=settings)
    assert "pretrained_srs_file" in str(missing.value) and len(str(missing.value).splitlines()) == 1

    checkpoint = _users_own_plain_sasrec(base_config, tmp_path / "users-saved")
    outcome = quick_start.run(
        "LLMEmbSASRec", "tiny", config_dict=dict(settings, pretrained_srs_file=checkpoint)
    )
    llmemb = outcome["llmemb"]
    assert llmemb["model"] == "LLMEmbSASRec" and 0.0 <= llmemb["test_result"]["hit@10"] <= 1.0
    assert llmemb["best_valid_score"] is not None and set(outcome["timings"]) >= {"llm_table_s", "llmemb_s"}
    assert os.path.basename(outcome["results"][0]).startswith("tiny-LLMEmbSASRec-")
    assert outcome["results"][0].endswith("-full.md")
    rows = json.load(open(outcome["results"][2]))["rows"]
    assert [row["model"] for row in rows] == ["LLMEmbSASRec"]  # LLMEmb alone: no plain row retrained
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert not any(f.startswith("pretrained-") for f in os.listdir(cache))
    wrong_size = dict(settings, pretrained_srs_file=checkpoint, hidden_size=8, inner_size=16)
    with pytest.raises(ValueError, match="pretrained_srs_file: .* has item vectors of size 16"):
        quick_start.train_llmemb("LLMEmbSASRec", "tiny", config_dict=wrong_size)


def test_objective_function_and_unsaved_runs_return_recboles_dict_and_keep_no_model(base_config):
    settings = dict(base_config, epochs=1, align_weight=0.0, model="LLMEmbSASRec", dataset="tiny")
    result = quick_start.objective_function(settings, saved=False)
    assert set(result) >= {"best_valid_score", "valid_score_bigger", "best_valid_result", "test_result"}
    assert result["best_valid_score"] == result["best_valid_result"]["ndcg@10"]
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert not any(f.endswith(".pth") for f in os.listdir(cache))  # the LLM table stays, no model
    plain = quick_start.objective_function(dict(settings, model="GRU4Rec"), saved=False)
    assert plain["model"] == "GRU4Rec" and not any(f.endswith(".pth") for f in os.listdir(cache))
    outcome = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1), saved=False)
    assert outcome["results"] == [] and not os.path.exists(base_config["results_dir"])
    assert not any(f.endswith(".pth") for f in os.listdir(cache))


def test_an_edited_item_file_rebuilds_exactly_what_depends_on_it(base_config, tmp_path, trained):
    """Stale caches: edit .item and rerun: SCFT, the table and LLMEmb are rebuilt, plain is reused."""
    import shutil

    settings = dict(base_config, epochs=1, scft=True)
    first = quick_start.run("SASRec", "tiny", config_dict=settings)
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    before = set(os.listdir(cache))
    trained.clear()
    # Copies of the data and the LLM elsewhere are the same inputs: everything is reused.
    shutil.copytree(base_config["data_path"], tmp_path / "copied-data")
    shutil.copytree(base_config["llm_path"], tmp_path / "copied-llm")
    copied = dict(settings, data_path=str(tmp_path / "copied-data"), llm_path=str(tmp_path / "copied-llm"))
    again = quick_start.run("SASRec", "tiny", config_dict=copied)
    assert trained == [("SASRec", False), ("LLMEmbSASRec", False)] and set(os.listdir(cache)) == before
    assert again["llmemb"]["test_results"] == first["llmemb"]["test_results"]
    item_file = tmp_path / "copied-data" / "tiny" / "tiny.item"
    item_file.write_text(item_file.read_text().replace("\ni1\t", "\ni1\tgarden ", 1))  # item i1's title
    trained.clear()
    edited = quick_start.run("SASRec", "tiny", config_dict=copied)
    assert trained == [("SASRec", False), ("LLMEmbSASRec", True)]  # plain reads only .inter: reused
    new = {f.split("-")[0] for f in set(os.listdir(cache)) - before if not f.endswith(".json")}
    assert new == {"scft", "llm", "pca", "LLMEmbSASRec"}  # the SCFT run, raw and PCA tables, LLMEmb
    assert edited["llmemb"]["checkpoint"] != first["llmemb"]["checkpoint"]


def test_a_run_with_other_settings_keeps_the_earlier_report_and_the_index_lists_both(base_config):
    results = base_config["results_dir"]
    first = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=2))["results"][0]
    second = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1))["results"][0]
    assert first != second and os.path.isfile(first) and os.path.isfile(second)
    assert "- epochs: 2" in open(first).read() and "- epochs: 1" in open(second).read()
    latest = os.path.join(results, "tiny-SASRec-latest.md")
    assert os.path.realpath(latest) == os.path.realpath(second)
    index = open(os.path.join(results, "index.md")).read()
    for report in (first, second):
        name = os.path.basename(report)[: -len(".md")]
        assert f"[{name}]({name}.md)" in index
