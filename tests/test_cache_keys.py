"""Cache keys hold the settings that change results and nothing else: a runtime-only setting never retrains."""

import os
import re
import shutil

import pytest

from recbole_llmemb.artifacts.checkpoints import llmemb_key, pretrain_key
from recbole_llmemb.llm.table_stage import table_files
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import Effect, declared_settings
from recbole_llmemb.settings.recbole_options import RECBOLE_INPUTS, RECBOLE_RUNTIME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENS = [f"i{n}" for n in range(1, 31)]  # the tiny dataset's items

# Another valid value of each setting that must leave every key alone.
RUNTIME_CHANGES = {
    # the plugin's runtime-only settings
    "llm_device": "cpu", "llm_batch_size": 3, "llm_checkpoint_every": 7, "scft_checkpoint_every": 3,
    "scft_eval_items": 4, "results_dir": "elsewhere/results", "llmemb_cache_dir": "elsewhere/cache",
    # what the report shows of a trained model
    "report_negatives": [0], "longtail_head_ratio": 0.3, "longtail_threshold": 4, "longtail_group_bounds": [3, 6],
    "longtail_user_length_threshold": 5, "eval_cold_without_scft": False, "eval_cold_reference": False,
    # what chooses or converts the data files, whose contents are in the keys
    "eval_cold_items": 0.2, "eval_cold_rule": "last", "eval_cold_seed": 7, "convert_format": "movielens",
    "convert_category": "Books", "convert_files": ["a.json", "b.json"], "convert_kcore": 3,
    "convert_drop_duplicates": False, "convert_min_date": 2001, "convert_max_date": "2018-06-30",
    "convert_min_rating": 3, "convert_max_value_chars": 50, "convert_encoding": "latin-1",
    "convert_item_fields": ["title"], "llmemb_table_file": "elsewhere/table.npz",
    # RecBole's runtime-only options (device is RecBole's to set from use_gpu and gpu_id)
    "checkpoint_dir": "elsewhere/saved", "show_progress": True, "gpu_id": "1", "use_gpu": True, "state": "INFO",
    "log_wandb": True, "wandb_project": "other", "worker": 1, "eval_batch_size": 99,
}  # fmt: skip
# Paths whose contents are in the keys: a copy elsewhere is the same input (tested by copying).
COPIED_PATHS = {"data_path", "llm_path", "pretrained_srs_file"}


def keys(config_dict: dict) -> dict[str, str]:
    """The plain backbone's, SCFT's, the LLM table's, its PCA's and the LLMEmb model's keys."""
    plain = make_config("SASRec", "tiny", config_dict=config_dict)
    llmemb = make_config("LLMEmbSASRec", "tiny", config_dict=config_dict)
    files = table_files(llmemb, TOKENS, 8)
    return {
        "plain": pretrain_key(plain),
        "scft": files.scft.key,
        "table": files.key,
        "pca": files.pca_key,
        "llmemb": llmemb_key(llmemb, files.pca_key),
    }


@pytest.fixture
def scft_on(base_config, tmp_path, monkeypatch):
    # RecBole's Config sets CUDA_VISIBLE_DEVICES from gpu_id: put it back after the test.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    target = tmp_path / "plain.pth"
    target.write_bytes(b"a plain checkpoint's bytes")
    return {**base_config, "scft": True, "pretrained_srs_file": str(target)}


def test_the_changes_cover_every_setting_that_is_not_in_the_keys():
    left_out = {key for key, one in declared_settings().items() if not one.in_key}
    assert (
        set(RUNTIME_CHANGES) | COPIED_PATHS | {"llmemb_dropout_prob"}
        == left_out | RECBOLE_RUNTIME - {"device"} | RECBOLE_INPUTS
    )


def test_a_runtime_only_setting_changes_no_key(scft_on):
    before = keys(scft_on)
    changed = {key: keys({**scft_on, key: value}) for key, value in RUNTIME_CHANGES.items()}
    assert {key: after for key, after in changed.items() if after != before} == {}


def test_a_copied_input_is_the_same_input(scft_on, tmp_path):
    before = keys(scft_on)
    data = tmp_path / "copied-data"
    shutil.copytree(scft_on["data_path"], data)
    llm = tmp_path / "copied-llm"
    shutil.copytree(scft_on["llm_path"], llm)
    target = tmp_path / "copied-plain.pth"
    shutil.copyfile(scft_on["pretrained_srs_file"], target)
    copies = {"data_path": str(data), "llm_path": str(llm), "pretrained_srs_file": str(target)}
    assert set(copies) == COPIED_PATHS
    assert keys({**scft_on, **copies}) == before
    target.write_bytes(b"another plain checkpoint")  # other contents: another alignment target
    assert keys({**scft_on, "pretrained_srs_file": str(target)})["llmemb"] != before["llmemb"]


def test_llmemb_dropout_prob_is_keyed_through_the_dropout_keys_it_sets(scft_on):
    before = keys(scft_on)
    through = keys({**scft_on, "llmemb_dropout_prob": 0.3})
    assert through["plain"] == before["plain"] and through["llmemb"] != before["llmemb"]
    direct = keys({**scft_on, "hidden_dropout_prob": 0.3, "attn_dropout_prob": 0.3})
    assert through["llmemb"] == direct["llmemb"]


@pytest.mark.parametrize(
    "change, changed",
    [
        ({"train_regime": "sequence"}, {"plain", "llmemb"}),
        ({"eval_negatives": 100}, {"plain", "llmemb"}),
        ({"sampled_softmax_negatives": 8}, {"plain", "llmemb"}),
        ({"hidden_size": 8}, {"plain", "llmemb"}),
        ({"seed": 7}, {"plain", "pca", "llmemb"}),  # the PCA is seeded too; SCFT has scft_seed
        ({"scft_temperature": 0.2}, {"scft", "table", "pca", "llmemb"}),
        ({"scft_gradient_checkpointing": True}, {"scft", "table", "pca", "llmemb"}),
        ({"prompt_max_value_chars": 3}, {"scft", "table", "pca", "llmemb"}),
        ({"llm_dtype": "bfloat16"}, {"scft", "table", "pca", "llmemb"}),
        ({"llm_max_length": 16}, {"table", "pca", "llmemb"}),
        ({"adapter_activation": "relu"}, {"llmemb"}),
        ({"llm_table_norm": "none"}, {"llmemb"}),
        ({"align_weight": 0.5}, {"llmemb"}),
        ({"llmemb_id_view": True}, {"llmemb"}),
    ],
)
def test_a_setting_that_changes_results_changes_the_keys_of_what_it_shapes(scft_on, change, changed):
    (key,) = change
    assert key not in declared_settings() or declared_settings()[key].effect is Effect.RESULT
    before, after = keys(scft_on), keys({**scft_on, **change})
    assert {name for name in before if before[name] != after[name]} == changed


def test_the_groups_are_keyed_when_a_groups_metric_stops_training(scft_on):
    # With valid_metric a tail metric, the tail rule decides which epoch is kept.
    stopping = {**scft_on, "valid_metric": "tail_ndcg@10"}
    before, after = keys(stopping), keys({**stopping, "longtail_threshold": 4})
    assert {name for name in before if before[name] != after[name]} == {"plain", "llmemb"}


def test_the_configuration_reference_lists_what_each_setting_outside_the_keys_changes():
    text = open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8").read()
    section = text[text.index("## Cache keys: what changes results") :]
    rows = re.findall(r"^\| (nothing|the report|results)[^|]*\| (.*) \|$", section, re.M)
    declared = declared_settings()
    listed = {}
    for kind, names in rows:
        for name in re.findall(r"`([\w*]+)`", names):
            expanded = (
                [key for key in declared if key.startswith(name[:-1])] if name.endswith("*") else [name]
            )
            listed.update((key, kind) for key in expanded)
    effects = {"nothing": Effect.RUNTIME, "the report": Effect.REPORT, "results": Effect.INDIRECT}
    expected = {key: one.effect for key, one in declared.items() if not one.in_key}
    expected.update(
        dict.fromkeys(RECBOLE_RUNTIME, Effect.RUNTIME) | dict.fromkeys(RECBOLE_INPUTS, Effect.INDIRECT)
    )
    assert {key: effects[kind] for key, kind in listed.items()} == expected
