"""Settings are checked before a run: unknown keys warned about, plugin keys typed and ranged."""

import logging
import os

import pytest

from recbole_llmemb.cli import parse_args
from recbole_llmemb.config_checks import known_settings
from recbole_llmemb.option_rules import RECBOLE_RULES
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import declared_settings


def test_an_unknown_key_is_warned_about_with_the_closest_known_one(base_config, caplog):
    with caplog.at_level(logging.WARNING):
        config = make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, "scft_lora_rank": 16})
    assert "unknown setting 'scft_lora_rank' (did you mean scft_lora_r?)" in caplog.text
    assert config["scft_lora_r"] == 8  # ignored, as RecBole ignores it: hence the warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # known keys, RecBole's of other models too: no warning
        make_config("SASRec", "tiny", config_dict={**base_config, "n_layers": 2, "dropout_probs": [0.1, 0.2]})
    assert "unknown setting" not in caplog.text


def test_every_key_of_the_plugins_yaml_and_every_declared_setting_is_known():
    assert {
        "scft_lora_r",
        "llm_pca_dim",
        "train_batch_size",
        "MAX_ITEM_LIST_LENGTH",
        "gpu_id",
    } <= known_settings()
    assert set(declared_settings()) <= known_settings()


@pytest.mark.parametrize(
    "argument, message",
    [
        ("--llm_pca_dim=-1", "llm_pca_dim: -1 is not a whole number >= 0"),
        ("--scft_drop_ratio=1.0", r"scft_drop_ratio: 1.0 is not a number in \[0, 1\)"),
        ("--llm_pooling=max", "llm_pooling: 'max' is not one of mean, last"),
        ("--adapter_activation=swish", "adapter_activation: 'swish' is not one of none, relu, gelu, tanh"),
        ("--align_temperature=0", r"align_temperature: 0.0 is not a number in \(0, inf\)"),
        ("--eval_negatives=-5", "eval_negatives: -5 is not a whole number >= 0"),
        ("--scft_lora_r=0", "scft_lora_r: 0 is not a whole number >= 1"),
        ("--longtail_head_ratio=1.5", r"longtail_head_ratio: 1.5 is not a number in \(0, 1\)"),
        ("--use_adapter=yes", "use_adapter: 'yes' is not True or False"),
        ("--adapter_hidden_dims=[0]", "adapter_hidden_dims: \\[0\\] is not a list of sizes >= 1"),
        ("--train_regime=windows", "train_regime: 'windows' is not one of prefix, sequence"),
        ("--sequence_bucket_batches=-1", "sequence_bucket_batches: -1 is not a whole number >= 0"),
        ("--eval_exclude_history=yes", "eval_exclude_history: 'yes' is not auto, True or False"),
        ("--align_max_items=-2", "align_max_items: -2 is not a whole number >= 0"),
        ("--item_id_residual_init=pca", "item_id_residual_init: 'pca' is not one of zero, table"),
        ("--llmemb_id_view_init=pca", "llmemb_id_view_init: 'pca' is not one of table, random"),
    ],
)
def test_a_plugin_setting_of_the_wrong_type_or_range_is_a_one_line_error(base_config, argument, message):
    _, settings = parse_args([argument])  # as the command line passes it
    with pytest.raises(ValueError, match=message) as error:
        make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, **settings})
    assert len(str(error.value).splitlines()) == 1


def test_every_recbole_rule_is_a_known_setting():
    assert set(RECBOLE_RULES) <= known_settings()
    assert {"epochs", "learning_rate", "topk", "valid_metric", "loss_type", "gpu_id", "dropout_prob"} <= set(
        RECBOLE_RULES
    )


@pytest.mark.parametrize(
    "model, argument, message",
    [
        ("SASRec", "--epochs=abc", "epochs: 'abc' is not a whole number >= 1"),
        ("SASRec", "--epochs=0", "epochs: 0 is not a whole number >= 1"),
        ("SASRec", "--epochs=2.5", "epochs: 2.5 is not a whole number >= 1"),
        ("SASRec", "--learning_rate=abc", r"learning_rate: 'abc' is not a number in \(0, inf\)"),
        ("SASRec", "--learning_rate=0", r"learning_rate: 0.0 is not a number in \(0, inf\)"),
        ("SASRec", "--train_batch_size=0", "train_batch_size: 0 is not a whole number >= 1"),
        ("SASRec", "--eval_batch_size=-4", "eval_batch_size: -4 is not a whole number >= 1"),
        ("SASRec", "--stopping_step=0", "stopping_step: 0 is not a whole number >= 1"),
        ("SASRec", "--eval_step=-1", "eval_step: -1 is not a whole number >= 0"),
        ("SASRec", "--weight_decay=-0.1", r"weight_decay: -0.1 is not a number in \[0, inf\)"),
        ("SASRec", "--MAX_ITEM_LIST_LENGTH=0", "MAX_ITEM_LIST_LENGTH: 0 is not a whole number >= 1"),
        ("SASRec", "--hidden_size=abc", "hidden_size: 'abc' is not a whole number >= 1"),
        ("SASRec", "--n_layers=0", "n_layers: 0 is not a whole number >= 1"),
        ("SASRec", "--n_heads=3", r"hidden_size: 16 is not a multiple of n_heads \(3\)"),
        ("SASRec", "--hidden_dropout_prob=1", r"hidden_dropout_prob: 1.0 is not a number in \[0, 1\)"),
        ("BERT4Rec", "--attn_dropout_prob=-0.5", r"attn_dropout_prob: -0.5 is not a number in \[0, 1\)"),
        ("GRU4Rec", "--dropout_prob=1.5", r"dropout_prob: 1.5 is not a number in \[0, 1\)"),
        ("GRU4Rec", "--embedding_size=0", "embedding_size: 0 is not a whole number >= 1"),
        ("SASRec", "--seed=-1", r"seed: -1 is not a whole number in \[0, 4294967295\]"),
        ("SASRec", "--topk=[0]", r"topk: \[0\] is not a whole number >= 1 or a list of them"),
        ("SASRec", "--topk=ten", "topk: 'ten' is not a whole number >= 1"),
        ("SASRec", "--metrics=['Hit','Foo']", r"metrics: \['Hit', 'Foo'\] is not a list of RecBole ranking metrics"),
        ("SASRec", "--metrics=['AUC']", "metrics: .* ranking metrics .*NDCG"),
        ("SASRec", "--valid_metric=Recall@10", r"valid_metric: 'Recall@10' is not a computed result \(hit@10, ndcg@10\)"),
        ("SASRec", "--valid_metric=NDCG@20", "valid_metric: 'NDCG@20' is not a computed result"),
        ("SASRec", "--loss_type=XE", "loss_type: 'XE' is not one of CE, BPR"),
        ("SASRec", "--loss_type=BPR", "loss_type: BPR needs a negative item per interaction; also set train_neg_sample_args"),
        ("SASRec", "--gpu_id=first", r"gpu_id: 'first' is not a GPU number"),
        ("SASRec", "--device=cpu", "device: RecBole sets it from use_gpu and gpu_id; leave it out"),
        ("SASRec", "--learner=adamx", "learner: 'adamx' is not one of adam, adamw"),
        ("SASRec", "--user_inter_num_interval=5", "user_inter_num_interval: '5' is not an interval such as"),
        ("SASRec", "--transform=mask", "transform: 'mask' is not one of mask_itemseq"),
        ("SASRec", "--llm_device=gpu", "llm_device: 'gpu' is not a torch device"),
        ("SASRec", "--eval_args={'mode':'uni'}", "eval_args: .* is not a dict whose mode is full, labeled, uni<N> or pop<N>"),
        ("SASRec", "--eval_args={'split':{'LS':'valid'}}", r"eval_args: .* is not a dict whose split is \{'LS'"),
        ("SASRec", "--eval_args=uni100", "eval_args: 'uni100' is not a dict of split, order, group_by and mode"),
    ],
)  # fmt: skip
def test_a_recbole_setting_of_the_wrong_type_or_range_is_a_one_line_error(
    base_config, model, argument, message
):
    _, settings = parse_args([argument])
    with pytest.raises(ValueError, match=message) as error:
        make_config(f"LLMEmb{model}", "tiny", config_dict={**base_config, **settings})
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize(
    "arguments",
    [
        ["--valid_metric=tail_ndcg@10"],
        ["--topk=[5,10]", "--valid_metric=NDCG@5", "--metrics=['Recall','MRR','NDCG','Hit','Precision']"],
        ["--learner=AdamW", "--gpu_id=0,1", "--user_inter_num_interval=[5,inf)", "--eval_step=0"],
        ["--loss_type=BPR", "--train_neg_sample_args={'distribution':'uniform','sample_num':1}"],
        ["--learning_rate=1e-3", "--weight_decay=0", "--state=warning", "--seed=0"],
    ],
)
def test_recbole_settings_in_range_pass(base_config, arguments, monkeypatch):
    # RecBole's Config sets CUDA_VISIBLE_DEVICES from gpu_id: put it back after this test.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", "0"))
    _, settings = parse_args(arguments)
    for model in ("LLMEmbSASRec", "GRU4Rec", "BERT4Rec"):
        make_config(model, "tiny", config_dict={**base_config, **settings})


def test_a_command_line_value_is_read_as_a_literal_and_never_run(base_config, tmp_path):
    marker = tmp_path / "ran"
    _, settings = parse_args([f"--seed=open({str(marker)!r}, 'w')", "--data_path=2024"])
    with pytest.raises(ValueError, match=r"seed: \"open\("):
        make_config("SASRec", "tiny", config_dict={**base_config, **settings})
    assert not marker.exists()  # RecBole's Config would have eval()ed it and created the file
    _, settings = parse_args(["--data_path=2024", "--epochs=3", "--eval_args={'mode':'uni100'}"])
    config = make_config("SASRec", "tiny", config_dict={**base_config, **settings})
    assert config["data_path"] == os.path.join("2024", "tiny")  # a text option keeps its text
    assert config["epochs"] == 3 and config["eval_negatives"] == 100


def test_an_eval_args_of_some_keys_keeps_the_others_of_leave_one_out(base_config):
    # RecBole filled the keys left out with its own defaults: a random 8:1:1 split, random order.
    _, settings = parse_args(["--eval_args={'mode':'uni100'}"])
    config = make_config("SASRec", "tiny", config_dict={**base_config, **settings})
    assert config["eval_args"]["split"] == {"LS": "valid_and_test"} and config["eval_args"]["order"] == "TO"
    assert config["eval_negatives"] == 100


@pytest.mark.parametrize(
    "content, message",
    [
        (b"epochs: 2\nlearning_rate: [0.1\n", r"line 3, column 1: expected ',' or '\]', but got '<stream end>', while parsing a flow sequence from line 2"),
        (b"epochs: 2\n  topk: 5\n", "line 2, column 7: mapping values are not allowed here"),
        (b"- epochs\n- 2\n", "holds a list, not settings; write one 'key: value' per line"),
        (b"epochs: caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 11\)"),
        (b"epochs: abc\n", "epochs: 'abc' is not a whole number >= 1"),
    ],
)  # fmt: skip
def test_a_bad_config_file_is_a_one_line_error_naming_it(base_config, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    settings = {k: v for k, v in base_config.items() if k != "epochs"}
    with pytest.raises(ValueError, match=message) as error:
        make_config("SASRec", "tiny", [str(path)], settings)
    assert len(str(error.value).splitlines()) == 1
    if "epochs:" not in message:
        assert str(error.value).startswith(f"config_files: {path}")


def test_an_empty_config_file_is_no_settings(base_config, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert make_config("SASRec", "tiny", [str(path)], base_config)["epochs"] == base_config["epochs"]


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "../b",
            r"dataset: '../b' is a path, not a name .*; for ../b/b.inter pass --dataset=b --data_path=\.\.",
        ),
        ("data/tiny", "pass --dataset=tiny --data_path=data"),
        ("..", "dataset: '..' is not a dataset name"),
    ],
)
def test_a_dataset_name_that_is_a_path_is_refused(base_config, name, message):
    with pytest.raises(ValueError, match=message):
        make_config("SASRec", name, config_dict=base_config)
