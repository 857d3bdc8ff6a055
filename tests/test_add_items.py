"""New items for a trained LLMEmb model: scored from their text, the old items exactly as before."""

import importlib
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from recbole_llmemb import add_items, load_extended_model, quick_start
from recbole_llmemb.compat import load_recbole_checkpoint
from recbole_llmemb.data import load_data
from recbole_llmemb.llm.loading import load_finetuned_llm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trained(base_config, backbone="SASRec", **settings):
    """A trained LLMEmb model of the tiny data: ``(checkpoint, config, data)``."""
    outcome = quick_start.run(backbone, "tiny", config_dict=dict(base_config, epochs=1, **settings))
    checkpoint = outcome["llmemb"]["checkpoint"]
    config = load_recbole_checkpoint(checkpoint, key=None, users_own=False)["config"]
    return checkpoint, config, load_data(config)


def write_items(path, rows) -> str:
    lines = ["item_id:token\ttitle:token_seq\tgenre:token_seq\tyear:token", *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def row_of(base_config, token: str) -> list[str]:
    lines = open(os.path.join(base_config["data_path"], "tiny", "tiny.item")).read().splitlines()
    return next(line.split("\t") for line in lines if line.startswith(f"{token}\t"))


@pytest.mark.parametrize("backbone", ["SASRec", "BERT4Rec"])
def test_added_items_are_scored_from_their_text_and_old_items_as_before(base_config, tmp_path, backbone):
    checkpoint, config, (dataset, _, _, test) = trained(base_config, backbone, scft=True)
    twin = ["n1", *row_of(base_config, "i1")[1:]]  # a new id with i1's text: i1's embedding
    items = write_items(tmp_path / "new.item", [twin, ["n2", "storm garden", "horror", "1999"]])
    extended = add_items(checkpoint, items)
    model, tokens = load_extended_model(extended)
    old = list(dataset.field2id_token["item_id"])[1:]
    assert tokens == [*old, "n1", "n2"] and model.n_items == len(old) + 3

    original = config.model_class(config, dataset)
    original.load_state_dict(load_recbole_checkpoint(checkpoint, key=None)["state_dict"])
    original.eval()
    interaction = next(iter(test))[0]
    with torch.no_grad():
        before = original.full_sort_predict(interaction).view(len(interaction), -1)
        after = model.full_sort_predict(interaction).view(len(interaction), -1)
        weight = model.item_embedding.weight
    assert after.shape == (len(interaction), len(old) + 3)
    assert torch.equal(after[:, : len(old) + 1], before)  # the old items score exactly as before
    i1, n1, n2 = old.index("i1") + 1, len(old) + 1, len(old) + 2
    assert torch.allclose(weight[n1], weight[i1], atol=1e-5)  # the same text, the same embedding
    assert not torch.allclose(weight[n2], weight[i1], atol=1e-3)


def test_new_items_are_embedded_in_the_precision_the_table_was_built_in(base_config, tmp_path, monkeypatch):
    adding = importlib.import_module("recbole_llmemb.model.add_items")  # the package's add_items is the function

    checkpoint, _, _ = trained(base_config, scft=True, llm_dtype="bfloat16")
    loaded = []

    def recording(path, adapter, device, dtype):
        loaded.append(dtype)
        return load_finetuned_llm(path, adapter, device, dtype)

    # As `auto` resolves on a machine without native bf16: the table's recorded dtype must win.
    monkeypatch.setattr(adding, "llm_device_and_dtype", lambda config: ("cpu", torch.float32))
    monkeypatch.setattr(adding, "load_finetuned_llm", recording)
    add_items(checkpoint, write_items(tmp_path / "new.item", [["n1", "red river", "drama", "2001"]]))
    assert loaded == [torch.bfloat16]


@pytest.mark.slow
def test_adding_items_in_a_fresh_process_from_the_saved_files(base_config, tmp_path):
    checkpoint, _, _ = trained(base_config)
    items = write_items(tmp_path / "new.item", [["n1", "red river", "drama", "2001"]])
    out = str(tmp_path / "extended.pth")
    command = [sys.executable, os.path.join(ROOT, "run_recbole_llmemb.py"), "--stage=add_items"]
    job = subprocess.run(
        [*command, f"--checkpoint={checkpoint}", f"--items={items}", f"--out={out}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert job.returncode == 0, job.stderr[-2000:]
    assert job.stdout.strip().splitlines()[-1] == out
    record = json.load(open(f"{out}.json"))
    assert record["kind"] == "extended LLMEmb model" and record["added"] == ["n1"]
    model, tokens = load_extended_model(out)
    assert tokens[-1] == "n1" and model.item_embedding.weight.shape[0] == len(tokens) + 1


def test_bad_additions_are_one_line_errors(base_config, tmp_path):
    import shutil

    llm = str(tmp_path / "own-llm")  # this test changes the LLM's weights: its own copy
    shutil.copytree(base_config["llm_path"], llm)
    base_config = dict(base_config, llm_path=llm)
    checkpoint, _, _ = trained(base_config)
    clash = write_items(tmp_path / "clash.item", [["i3", "red river", "drama", "2001"]])
    with pytest.raises(ValueError, match=r"clash\.item: 1 item ids the model already has \(e\.g\. i3\)"):
        add_items(checkpoint, clash)
    (tmp_path / "fields.item").write_text("item_id:token\tname:token_seq\nn1\tred river\n")
    with pytest.raises(
        ValueError, match=r"fields\.item: no column \['title', 'genre', 'year'\] and has columns \['name'\]"
    ):
        add_items(checkpoint, str(tmp_path / "fields.item"))
    weights_file = os.path.join(base_config["llm_path"], "model.safetensors")
    weights = load_file(weights_file)
    weights["norm.weight"] = weights["norm.weight"] + 1.0  # another LLM at the same path
    save_file(weights, weights_file, metadata={"format": "pt"})
    new = write_items(tmp_path / "new.item", [["n1", "red river", "drama", "2001"]])
    with pytest.raises(ValueError, match="is not the LLM the table was built with"):
        add_items(checkpoint, new)


@pytest.mark.parametrize("init", ["zero", "table"])
def test_a_new_item_of_the_hybrid_gets_its_residual_start_from_its_text(base_config, tmp_path, init):
    checkpoint, config, _ = trained(base_config, item_id_residual=True, item_id_residual_init=init)
    twin = ["n1", *row_of(base_config, "i1")[1:]]
    model, tokens = load_extended_model(add_items(checkpoint, write_items(tmp_path / "new.item", [twin])))
    embedding = model.item_embedding
    n1 = tokens.index("n1") + 1
    expected = torch.zeros(16)  # the table has 8 components (llm_pca_dim), the embedding 16: zero-padded
    if init == "table":
        expected[:8] = embedding.table[n1] * config["initializer_range"]
    assert init == "zero" or expected.abs().sum() > 0
    assert torch.allclose(embedding.id_residual[n1].detach(), expected)


@pytest.mark.parametrize("init", ["random", "table"])
def test_a_new_item_of_the_id_view_gets_its_id_vector_start_from_its_text(base_config, tmp_path, init):
    checkpoint, config, _ = trained(base_config, llmemb_id_view=True, llmemb_id_view_init=init)
    twin = ["n1", *row_of(base_config, "i1")[1:]]
    model, tokens = load_extended_model(add_items(checkpoint, write_items(tmp_path / "new.item", [twin])))
    n1 = tokens.index("n1") + 1
    expected = torch.zeros(16)
    if init == "table":
        expected[:8] = model.item_embedding.table[n1] * config["initializer_range"]
    assert init == "random" or expected.abs().sum() > 0
    assert torch.allclose(model.id_view.weight[n1].detach(), expected)
