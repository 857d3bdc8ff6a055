"""Settings are checked before a run: unknown keys warned about, plugin keys typed and ranged."""

import logging

import pytest

from recbole_llmemb.cli import parse_args
from recbole_llmemb.config_checks import RULES, known_settings
from recbole_llmemb.quick_start import make_config


def test_an_unknown_key_is_warned_about_with_the_closest_known_one(base_config, caplog):
    with caplog.at_level(logging.WARNING):
        config = make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, "scft_lora_rank": 16})
    assert "unknown setting 'scft_lora_rank' (did you mean scft_lora_r?)" in caplog.text
    assert config["scft_lora_r"] == 8  # ignored, as RecBole ignores it: hence the warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # known keys, RecBole's of other models too: no warning
        make_config("SASRec", "tiny", config_dict={**base_config, "n_layers": 2, "dropout_probs": [0.1, 0.2]})
    assert "unknown setting" not in caplog.text


def test_every_key_of_the_plugins_yaml_is_known_and_every_ruled_key_has_a_default():
    assert {
        "scft_lora_r",
        "llm_pca_dim",
        "train_batch_size",
        "MAX_ITEM_LIST_LENGTH",
        "gpu_id",
    } <= known_settings()
    assert set(RULES) <= known_settings()


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
    ],
)
def test_a_plugin_setting_of_the_wrong_type_or_range_is_a_one_line_error(base_config, argument, message):
    _, settings = parse_args([argument])  # as the command line passes it
    with pytest.raises(ValueError, match=message) as error:
        make_config("LLMEmbSASRec", "tiny", config_dict={**base_config, **settings})
    assert len(str(error.value).splitlines()) == 1
