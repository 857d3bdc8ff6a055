import json
import os

import numpy as np
import pytest
import torch

from recbole_llmemb.config import cache_dir
from recbole_llmemb.llm import table_export
from recbole_llmemb.llm.item_table import ItemTable
from recbole_llmemb.llm.loading import load_llm
from recbole_llmemb.llm.table_export import embed_prompts
from recbole_llmemb.llm.table_stage import MissingTableError, build_table, load_table, table_files
from recbole_llmemb.settings import overall_defaults

TOKENS = [f"i{n}" for n in range(1, 31)]


def table_config(base_config, **overrides):
    config = {
        **overall_defaults(),
        "dataset": "tiny",
        "model": "LLMEmbSASRec",
        "data_path": os.path.join(base_config["data_path"], "tiny"),
        "checkpoint_dir": base_config["checkpoint_dir"],
        "llm_path": base_config["llm_path"],
        "device": "cpu",
        "seed": 1,
        "prompt_fields": ["title", "genre", "year"],
        "prompt_list_fields": ["genre"],
        "scft": False,  # SCFT has its own tests (test_scft.py)
    }
    config.update(overrides)
    return config


def build_llm_table(config, tokens, show_progress=False):
    """The un-reduced table of ``tokens`` built by the table stage, and its key."""
    path = build_table(config, tokens, 0, show_progress=show_progress)
    return ItemTable.load(path), table_files(config, tokens, 0).key


def build_reduced_table(config, tokens, dim):
    return ItemTable.load(build_table(config, tokens, dim, show_progress=False))


def test_batched_length_sorted_embedding_equals_one_by_one(tiny_llm):
    model, tokenizer = load_llm(tiny_llm)
    prompts = [
        "title is red",
        "the item has following attributes : title is blue night ; genre is drama",
        "year is 1981 ; title is star",
    ]
    batched = embed_prompts(model, tokenizer, prompts, batch_size=3, show_progress=False)
    single = np.stack(
        [embed_prompts(model, tokenizer, [p], batch_size=1, show_progress=False)[0] for p in prompts]
    )
    assert batched.shape == (3, 32)
    np.testing.assert_allclose(batched, single, atol=1e-5)  # padding never leaks into the mean
    assert not np.allclose(batched[0], batched[1])


def test_last_token_pooling_takes_each_prompts_final_real_token(tiny_llm):
    model, tokenizer = load_llm(tiny_llm)
    prompts = ["title is red", "the item has following attributes : title is blue night ; genre is drama"]
    last = embed_prompts(model, tokenizer, prompts, batch_size=2, show_progress=False, pooling="last")
    mean = embed_prompts(model, tokenizer, prompts, batch_size=2, show_progress=False)
    with torch.no_grad():
        for row, prompt in zip(last, prompts, strict=True):
            hidden = model(**tokenizer([prompt], return_tensors="pt")).last_hidden_state[0]
            np.testing.assert_allclose(row, hidden[-1].numpy(), atol=1e-5)  # not a pad position
    assert not np.allclose(last, mean, atol=1e-3)


def test_to_internal_ids_maps_rows_by_token_and_zero_padding():
    table = ItemTable(["b", "a", "c"], np.array([[2.0, 2.0], [1.0, 1.0], [3.0, 3.0]], dtype=np.float32))
    matrix = table.to_internal_ids(["[PAD]", "a", "c", "b"])
    assert torch.equal(matrix, torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0], [2.0, 2.0]]))
    with pytest.raises(KeyError, match="no row"):
        table.to_internal_ids(["[PAD]", "z"])


def test_save_is_atomic_records_its_bytes_and_round_trips(tmp_path):
    table = ItemTable(["a", "b"], np.eye(2, dtype=np.float32))
    path = tmp_path / "t.npz"
    table.save(str(path), "k1", kind="test")
    assert sorted(os.listdir(tmp_path)) == ["t.npz", "t.npz.json"]  # no temp file left behind
    record = json.load(open(f"{path}.json"))
    assert (record["kind"], record["key"], record["items"], record["dim"]) == ("test", "k1", 2, 2)
    again = ItemTable.load(str(path), "k1")
    assert again.tokens == ["a", "b"] and np.array_equal(again.vectors, table.vectors)
    with pytest.raises(ValueError, match="recorded key k1 is not k2"):
        ItemTable.load(str(path), "k2")
    path.write_bytes(path.read_bytes()[:-8])  # truncated after it was written
    with pytest.raises(ValueError, match=r"t\.npz: its bytes changed since it was written"):
        ItemTable.load(str(path))
    np.savez(tmp_path / "own.npz", tokens=np.array(["a"]), vectors=np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="no record of its inputs"):
        ItemTable.load(str(tmp_path / "own.npz"))
    assert ItemTable.load(str(tmp_path / "own.npz"), require_record=False).dim == 3  # a user's own table


def test_table_is_cached_and_reused_without_loading_the_llm(base_config, monkeypatch):
    config = table_config(base_config)
    table, key = build_llm_table(config, TOKENS, show_progress=False)
    assert table.tokens == TOKENS and table.vectors.shape == (30, 32)

    def refuse(*args, **kwargs):
        raise AssertionError("the LLM was loaded although the table is cached")

    monkeypatch.setattr(table_export, "load_llm", refuse)
    again, key_again = build_llm_table(config, TOKENS, show_progress=False)
    assert key_again == key and np.array_equal(again.vectors, table.vectors)


@pytest.mark.parametrize(
    "override",
    [{"prompt_instruction": "Another instruction: "}, {"llm_max_length": 5}, {"prompt_fields": ["title"]}],
)
def test_cache_key_changes_with_prompts_and_llm_settings(base_config, override):
    _, key = build_llm_table(table_config(base_config), TOKENS, show_progress=False)
    changed, other = build_llm_table(table_config(base_config, **override), TOKENS, show_progress=False)
    assert other != key
    tables = [f for f in os.listdir(cache_dir(table_config(base_config))) if f.startswith("llm-table")]
    assert sorted(tables) == sorted(f"llm-table-{k}.npz{ext}" for k in (key, other) for ext in ("", ".json"))


def test_cache_key_follows_the_llm_files_contents_not_their_path(base_config, tmp_path, monkeypatch):
    import shutil

    from safetensors.torch import load_file, save_file

    copied = tmp_path / "copied-llm"  # the same weights elsewhere (a new venv, another machine)
    shutil.copytree(base_config["llm_path"], copied)
    _, key = build_llm_table(table_config(base_config), TOKENS, show_progress=False)

    def refuse(*args, **kwargs):
        raise AssertionError("the LLM ran although the table of the same weights is cached")

    with monkeypatch.context() as patch:
        patch.setattr(table_export, "load_llm", refuse)
        _, same = build_llm_table(
            table_config(base_config, llm_path=str(copied)), TOKENS, show_progress=False
        )
    assert same == key
    weights = load_file(copied / "model.safetensors")
    weights["norm.weight"] = weights["norm.weight"] * 2  # other weights: another table
    save_file(weights, copied / "model.safetensors", metadata={"format": "pt"})
    _, other = build_llm_table(table_config(base_config, llm_path=str(copied)), TOKENS, show_progress=False)
    assert other != key


def test_unknown_pooling_is_refused_and_last_token_pooling_is_its_own_table(base_config):
    with pytest.raises(ValueError, match="llm_pooling"):
        build_llm_table(table_config(base_config, llm_pooling="max"), TOKENS, show_progress=False)
    mean, mean_key = build_llm_table(table_config(base_config), TOKENS, show_progress=False)
    last, last_key = build_llm_table(
        table_config(base_config, llm_pooling="last"), TOKENS, show_progress=False
    )
    assert last_key != mean_key and last.vectors.shape == mean.vectors.shape == (30, 32)
    assert not np.allclose(last.vectors, mean.vectors, atol=1e-3)


def test_pca_reduces_caches_and_checks_dim(base_config):
    config = table_config(base_config)
    reduced = build_reduced_table(config, TOKENS, 8)
    assert reduced.vectors.shape == (30, 8) and reduced.tokens == TOKENS
    np.testing.assert_allclose(reduced.vectors.mean(axis=0), 0, atol=1e-4)  # PCA centres
    files = [f for f in os.listdir(cache_dir(config)) if f.startswith("pca-") and f.endswith(".npz")]
    assert len(files) == 1
    assert np.array_equal(build_reduced_table(config, TOKENS, 8).vectors, reduced.vectors)
    assert build_reduced_table(config, TOKENS, 0).dim == 32  # 0 keeps the LLM size
    with pytest.raises(ValueError, match="llm_pca_dim"):
        build_reduced_table(config, TOKENS, 64)


def test_missing_llm_path_is_a_clear_error(base_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="llm_path"):
        build_llm_table(table_config(base_config, llm_path=str(tmp_path / "nope")), TOKENS)


def test_interrupted_embedding_resumes_and_matches_an_uninterrupted_run(base_config, tmp_path, monkeypatch):
    reference, _ = build_llm_table(table_config(base_config, llm_batch_size=4), TOKENS, show_progress=False)
    config = table_config(
        base_config, llm_batch_size=4, llm_checkpoint_every=2, llmemb_cache_dir=str(tmp_path / "other")
    )
    calls = []
    original = table_export.pool

    def interrupt_on_fifth_batch(*args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(table_export, "pool", interrupt_on_fifth_batch)
    with pytest.raises(KeyboardInterrupt):
        build_llm_table(config, TOKENS, show_progress=False)
    folder = cache_dir(config)
    assert [f for f in os.listdir(folder) if not f.startswith(".")] == [
        next(f for f in os.listdir(folder) if f.endswith(".partial.npz"))
    ]  # only the progress file: no table yet, no temp file
    calls.clear()
    resumed, _ = build_llm_table(config, TOKENS, show_progress=False)
    assert len(calls) == 4  # 30 items in batches of 4: 8 batches, 4 saved before the interruption
    np.testing.assert_allclose(resumed.vectors, reference.vectors, atol=1e-5)
    assert not any(f.endswith(".partial.npz") for f in os.listdir(folder))


def test_load_table_reads_the_table_stage_artifact_and_never_runs_the_llm(base_config, monkeypatch):
    config = table_config(base_config)
    command = "python run_recbole_llmemb.py --stage=table --model=LLMEmbSASRec --dataset=tiny"
    with pytest.raises(MissingTableError, match=command) as missing:
        load_table(config, TOKENS, 8)
    assert len(str(missing.value).splitlines()) == 1
    path = build_table(config, TOKENS, 8, show_progress=False)
    assert json.load(open(f"{path}.json"))["inputs"]["llm_pca_dim"] == 8  # the record of its inputs

    def refuse(*args, **kwargs):
        raise AssertionError("load_table ran the LLM")

    monkeypatch.setattr(table_export, "load_llm", refuse)
    assert np.array_equal(load_table(config, TOKENS, 8).vectors, ItemTable.load(path).vectors)
    assert load_table(config, TOKENS, 0).dim == 32  # the raw table, built on the way
    with pytest.raises(MissingTableError, match="--stage=table"):
        load_table(config, TOKENS, 4)  # another PCA size: not built yet
    explicit = load_table(dict(config, llmemb_table_file=path, llm_pca_dim=4), TOKENS, 4)
    assert explicit.dim == 8  # a table named by the config is taken as it is
    with pytest.raises(MissingTableError, match="llmemb_table_file"):
        load_table(dict(config, llmemb_table_file=path + ".missing"), TOKENS, 8)


def test_a_given_table_file_skips_the_llm_stages(base_config, monkeypatch):
    from recbole_llmemb import quick_start

    def refuse(*args, **kwargs):
        raise AssertionError("an LLM stage ran although llmemb_table_file names the table")

    np.savez(
        os.path.join(base_config["checkpoint_dir"] + "-own.npz"),
        tokens=np.array(TOKENS),
        vectors=np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32),
    )
    monkeypatch.setattr(quick_start, "build_table_stage", refuse)
    settings = dict(
        base_config, epochs=1, scft=True, llmemb_table_file=base_config["checkpoint_dir"] + "-own.npz"
    )
    outcome = quick_start.run("SASRec", "tiny", config_dict=settings)
    assert 0.0 <= outcome["llmemb"]["test_result"]["hit@10"] <= 1.0
    cache = os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")
    assert not any(f.startswith(("llm-table-", "pca-", "scft-")) for f in os.listdir(cache))


def test_a_bfloat16_llm_gives_its_own_table_close_to_float32s(base_config):
    from recbole_llmemb.llm.loading import native_bf16, resolve_llm_dtype

    full, key = build_llm_table(table_config(base_config), TOKENS)
    half, half_key = build_llm_table(table_config(base_config, llm_dtype="bfloat16"), TOKENS)
    assert half_key != key and half.vectors.dtype == np.float32
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    assert (unit(full.vectors) * unit(half.vectors)).sum(axis=1).min() > 0.99
    assert not np.array_equal(full.vectors, half.vectors)
    assert resolve_llm_dtype("auto", "cpu") == (torch.bfloat16 if native_bf16("cpu") else torch.float32)


def test_the_pca_table_keeps_its_projection_so_later_items_are_projected_alike(base_config):
    config = table_config(base_config)
    raw = ItemTable.load(build_table(config, TOKENS, 0, show_progress=False))
    reduced = ItemTable.load(build_table(config, TOKENS, 8, show_progress=False))
    assert set(reduced.projection) == {"mean", "components", "scale"} and not raw.projection
    # The table's own rows, projected again as if they were new items: the same vectors.
    np.testing.assert_allclose(reduced.project(raw.vectors), reduced.vectors, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no projection"):
        raw.project(raw.vectors)
