"""The plugin's settings: each declared once, typed, defaulted only by the YAML files, checked by its rule."""

import dataclasses
import glob
import os

import pytest
import yaml

from recbole_llmemb.config import PROPERTIES_DIR
from recbole_llmemb.config_checks import recbole_settings, yaml_keys
from recbole_llmemb.data.convert import FORMATS
from recbole_llmemb.llm.loading import LLM_DTYPES
from recbole_llmemb.llm.pooling import POOLERS
from recbole_llmemb.model.adapter import ACTIVATIONS
from recbole_llmemb.model.embedding_builder import ADAPTER_DTYPES
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import (
    GROUPS,
    Effect,
    LLMEmbSettings,
    SCFTSettings,
    TableSettings,
    declared_settings,
    overall_defaults,
)
from recbole_llmemb.settings.conversion import RAW_FORMATS
from recbole_llmemb.settings.embedding import ADAPTER_ACTIVATIONS, ADAPTER_DTYPE_NAMES
from recbole_llmemb.settings.table import LLM_DTYPE_NAMES, POOLINGS


def test_every_plugin_key_of_the_yaml_files_is_a_declared_setting_and_every_setting_is_in_overall_yaml():
    ours, declared = yaml_keys(PROPERTIES_DIR), set(declared_settings())
    # A key of the plugin's YAML that is neither RecBole's nor declared (a RecBole model of its own
    # may share a name: align_weight).
    assert sorted(ours - recbole_settings() - declared) == []
    assert sorted(declared - ours) == []  # a declared setting that no YAML gives a default
    assert sorted(declared - set(overall_defaults())) == []  # every dataset and run needs its default


def test_no_field_has_a_code_default_that_disagrees_with_the_yaml():
    defaults = overall_defaults()
    for group in GROUPS.values():
        for field in dataclasses.fields(group):
            assert "key" in field.metadata, f"{group.__name__}.{field.name} is not declared with setting()"
            key = field.metadata["key"]
            if field.default is not dataclasses.MISSING:
                assert field.default == defaults[key], f"{group.__name__}.{field.name} vs {key}"
            if field.default_factory is not dataclasses.MISSING:
                assert field.default_factory() == defaults[key], f"{group.__name__}.{field.name} vs {key}"


def test_a_setting_is_declared_once_and_mirrors_name_a_declared_setting():
    declared = declared_settings()
    mirrors = [
        (group, field)
        for group in GROUPS.values()
        for field in dataclasses.fields(group)
        if field.metadata["mirror"]
    ]
    assert mirrors, "SCFT reads llm_pooling, which the table's settings declare"
    for group, field in mirrors:
        owner = declared[field.metadata["key"]]
        assert owner.group is not group and owner.rule is field.metadata["rule"]


def yaml_files() -> list[str]:
    return sorted(glob.glob(os.path.join(PROPERTIES_DIR, "**", "*.yaml"), recursive=True))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: os.path.relpath(p, PROPERTIES_DIR))
def test_every_value_of_the_yaml_files_passes_its_rule(path):
    declared = declared_settings()
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    checked = [key for key in values if key in declared]
    for key in checked:
        assert declared[key].rule(values[key]) is None, f"{key}: {values[key]!r}"
    # The file over the defaults makes valid settings too (a variant's choices fit together).
    LLMEmbSettings.from_config({**overall_defaults(), "seed": 2020, **values})


def test_the_defaults_make_every_group_and_a_bad_value_names_its_setting():
    settings = LLMEmbSettings.from_config({**overall_defaults(), "seed": 2020})
    assert settings.scft.max_length == 128 and settings.scft.lora_layers == 8
    assert settings.embedding.activation == "gelu" and settings.embedding.norm == "layernorm"
    assert settings.embedding.table_norm == "standardize"
    with pytest.raises(ValueError, match=r"^scft_epochs / scft_max_steps: one of them must be at least 1$"):
        SCFTSettings.from_defaults(epochs=0, max_steps=0)
    with pytest.raises(ValueError, match="^llm_pca_dim: not set; give --llm_pca_dim=<value>"):
        TableSettings.from_config({k: v for k, v in overall_defaults().items() if k != "llm_pca_dim"})
    with pytest.raises(TypeError, match="TableSettings has no setting 'pca'"):
        TableSettings.from_defaults(pca=4)


def test_a_tilde_takes_the_value_of_its_fallback():
    values = {**overall_defaults(), "seed": 7}
    assert SCFTSettings.from_config(values).seed == 2020
    assert SCFTSettings.from_config({**values, "scft_seed": None}).seed == 7
    assert LLMEmbSettings.from_config({**values, "eval_cold_seed": None}).cold_items.seed == 7


def test_the_implementations_know_exactly_the_declared_choices():
    assert tuple(ACTIVATIONS) == ADAPTER_ACTIVATIONS
    assert tuple(ADAPTER_DTYPES) == ADAPTER_DTYPE_NAMES
    assert tuple(LLM_DTYPES) == LLM_DTYPE_NAMES
    assert tuple(POOLERS) == POOLINGS
    assert set(FORMATS) == set(RAW_FORMATS)


def test_the_config_holds_the_yaml_defaults_the_settings_read(base_config):
    config = make_config("LLMEmbSASRec", "tiny", config_dict=base_config)
    settings = LLMEmbSettings.from_config(config)
    assert settings.table.pca_dim == base_config["llm_pca_dim"]  # given
    assert settings.rat.align_weight == overall_defaults()["align_weight"]  # from overall.yaml
    assert all(one.effect in Effect for one in declared_settings().values())
