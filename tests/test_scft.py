import json
import math
import os

import numpy as np
import pytest
import torch

from recbole_llmemb.llm.item_table import ItemTable
from recbole_llmemb.llm.loading import load_llm
from recbole_llmemb.llm.prompts import PromptTemplate, dataset_attributes
from recbole_llmemb.llm.scft import run_scft
from recbole_llmemb.llm.scft_loss import embed_texts, scft_loss
from recbole_llmemb.llm.scft_trainer import train_scft
from recbole_llmemb.llm.table_stage import build_table, table_files
from recbole_llmemb.llm.views import ViewSampler, sample_view
from recbole_llmemb.settings import SCFTSettings, overall_defaults

TOKENS = [f"i{n}" for n in range(1, 31)]
TEMPLATE = PromptTemplate.from_defaults(
    instruction="the item has following attributes : \n", list_fields=["genre"]
)


def build_llm_table(config, tokens, show_progress=False):
    """The un-reduced table of ``tokens`` built by the table stage, and its key."""
    path = build_table(config, tokens, 0, show_progress=show_progress)
    return ItemTable.load(path), table_files(config, tokens, 0).key


def scft_config(base_config, **overrides):
    config = {
        **overall_defaults(),
        "dataset": "tiny",
        "data_path": os.path.join(base_config["data_path"], "tiny"),
        "checkpoint_dir": base_config["checkpoint_dir"],
        "llm_path": base_config["llm_path"],
        "device": "cpu",
        "seed": 1,
        "scft_seed": None,  # ~: SCFT takes RecBole's seed, 1
        "prompt_instruction": TEMPLATE.instruction,
        "prompt_fields": ["title", "genre", "year"],
        "prompt_list_fields": ["genre"],
        "scft_batch_size": 8,
        "scft_max_steps": 3,
        "scft_eval_items": 16,
        "scft_learning_rate": 0.003,
    }
    config.update(overrides)
    return config


def tiny_attributes(base_config) -> list:
    attributes = dataset_attributes(scft_config(base_config), TOKENS)
    return [attributes[t] for t in TOKENS]


def test_view_keeps_configured_number_of_attributes_in_random_order():
    pairs = [(f"a{i}", str(i)) for i in range(5)]
    rng = np.random.default_rng(0)
    views = [sample_view(pairs, 0.4, rng) for _ in range(50)]
    assert all(len(v) == 3 for v in views)  # int(5 * 0.4) = 2 dropped, as the authors do
    assert all(len(set(v)) == 3 and set(v) <= set(pairs) for v in views)
    assert len({tuple(v) for v in views}) > 10  # subsets and orders vary
    assert len(sample_view(pairs[:1], 0.9, rng)) == 1  # at least one attribute kept
    assert sorted(sample_view(pairs, 0.0, rng)) == pairs  # nothing dropped, order shuffled


def test_views_differ_within_an_epoch_and_are_fresh_or_frozen_across_epochs(base_config):
    attributes = tiny_attributes(base_config)
    fresh = ViewSampler(attributes, TEMPLATE, SCFTSettings.from_defaults(seed=3))
    first, second = fresh.views(0)
    assert len(first) == len(second) == 30
    assert sum(a != b for a, b in zip(first, second, strict=True)) > 10
    assert fresh.views(0) == (first, second)  # deterministic per (seed, epoch)
    assert fresh.views(1) != (first, second)
    frozen = ViewSampler(attributes, TEMPLATE, SCFTSettings.from_defaults(seed=3, fresh_views=False))
    assert frozen.views(1) == frozen.views(0) == (first, second)
    batches = fresh.batches(0)
    assert sorted(np.concatenate(batches)) == list(range(30)) and all(len(b) >= 2 for b in batches)


def test_loss_values_and_positives_on_the_diagonal():
    e = torch.eye(2)
    # Aligned orthogonal pairs, tau 1: positive logit 1, negative logit 0.
    assert math.isclose(float(scft_loss(e, e, 1.0, exclude_positive=True)), -1.0, abs_tol=1e-6)
    assert math.isclose(
        float(scft_loss(e, e, 1.0, exclude_positive=False)), math.log(1 + math.e) - 1, abs_tol=1e-6
    )
    swapped = e[[1, 0]]
    assert float(scft_loss(e, swapped, 1.0)) > float(scft_loss(e, e, 1.0))
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    assert math.isclose(float(scft_loss(a, b, 0.5)), float(scft_loss(b, a, 0.5)), rel_tol=1e-6)  # symmetric


def fixed_batch_loss(model, tokenizer, sampler) -> float:
    first, second = sampler.views(0)
    model.eval()
    with torch.no_grad():
        e1 = embed_texts(model, tokenizer, first[:8], 64)
        e2 = embed_texts(model, tokenizer, second[:8], 64)
    return float(scft_loss(e1, e2, 0.05))


def test_training_lowers_the_loss_and_changes_only_lora_weights(base_config, tmp_path):
    model, tokenizer = load_llm(base_config["llm_path"])
    base = {k: v.clone() for k, v in model.state_dict().items()}
    settings = SCFTSettings.from_defaults(
        batch_size=8, max_steps=12, learning_rate=0.003, fresh_views=False, seed=1
    )
    attributes = tiny_attributes(base_config)
    sampler = ViewSampler(attributes, TEMPLATE, settings)
    before = fixed_batch_loss(model, tokenizer, sampler)
    result = train_scft(model, tokenizer, attributes, TEMPLATE, settings, str(tmp_path), show_progress=False)
    after = fixed_batch_loss(result.model, tokenizer, sampler)
    assert after < before - 0.1, (before, after)
    assert result.steps == 12 and len(result.losses) == 12
    state = result.model.state_dict()
    lora = {k: v for k, v in state.items() if "lora_" in k}
    assert lora and any("lora_B" in k and v.abs().sum() > 0 for k, v in lora.items())  # B starts at 0
    for name, value in base.items():
        key = next(
            k for k in state if k.endswith(name.replace(".weight", ".base_layer.weight")) or k.endswith(name)
        )
        assert torch.equal(state[key], value), name  # base weights untouched
    assert os.path.isfile(tmp_path / "adapter" / "adapter_model.safetensors")
    assert open(tmp_path / "loss.csv").read().count("\n") == 13


def test_interrupted_run_resumes_at_its_checkpoint_with_the_same_result(base_config, tmp_path):
    attributes = tiny_attributes(base_config)
    settings = SCFTSettings.from_defaults(
        batch_size=8, max_steps=6, checkpoint_every=2, learning_rate=0.003, seed=1
    )

    def lora_state(result):
        return {k: v for k, v in result.model.state_dict().items() if "lora_" in k}

    model, tokenizer = load_llm(base_config["llm_path"])
    whole = train_scft(
        model, tokenizer, attributes, TEMPLATE, settings, str(tmp_path / "a"), show_progress=False
    )

    def interrupt(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    model, tokenizer = load_llm(base_config["llm_path"])
    with pytest.raises(KeyboardInterrupt):
        train_scft(
            model, tokenizer, attributes, TEMPLATE, settings, str(tmp_path / "b"), False, on_step=interrupt
        )
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["step"] == 4
    seen = []
    model, tokenizer = load_llm(base_config["llm_path"])
    resumed = train_scft(
        model, tokenizer, attributes, TEMPLATE, settings, str(tmp_path / "b"), False,
        on_step=lambda step, loss: seen.append(step),
    )  # fmt: skip
    assert seen == [5, 6]
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    for name, value in lora_state(whole).items():
        torch.testing.assert_close(lora_state(resumed)[name], value, rtol=1e-5, atol=1e-6)


def test_run_scft_is_cached_by_settings_and_changes_the_exported_table(base_config):
    config = scft_config(base_config)
    torch.manual_seed(123)
    np.random.seed(123)
    rng_before = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = run_scft(config, TOKENS, show_progress=False)
    # SCFT seeds its own RNG and loading the LLM draws from it; the caller's global RNG is untouched.
    assert torch.equal(torch.get_rng_state(), rng_before[0])
    assert np.array_equal(np.random.get_state()[1], rng_before[1])
    report = json.load(open(os.path.join(first.directory, "scft.json")))
    assert report["steps"] == 3 and report["items"] == 30
    assert set(report["view_retrieval_after"]) >= {"view_top1", "alignment", "uniformity"}
    mtime = os.path.getmtime(os.path.join(first.adapter_dir, "adapter_model.safetensors"))
    again = run_scft(scft_config(base_config, scft_checkpoint_every=5), TOKENS, show_progress=False)
    assert again.key == first.key  # a runtime-only setting does not retrain
    reseeded = run_scft(scft_config(base_config, seed=7, scft_seed=1), TOKENS, show_progress=False)
    assert reseeded.key == first.key  # a new recommender seed reuses the LLM table's SCFT run
    assert os.path.getmtime(os.path.join(first.adapter_dir, "adapter_model.safetensors")) == mtime
    other = run_scft(scft_config(base_config, scft_temperature=0.2, scft_eval_items=0), TOKENS, False)
    assert other.key != first.key and other.report["view_retrieval_after"] == {}

    tuned, tuned_key = build_llm_table(config, TOKENS, show_progress=False)
    untuned, untuned_key = build_llm_table(scft_config(base_config, scft=False), TOKENS, show_progress=False)
    assert tuned_key != untuned_key
    assert tuned.vectors.shape == untuned.vectors.shape == (30, 32)
    assert not np.allclose(tuned.vectors, untuned.vectors, atol=1e-4)


def test_scft_seed_is_apart_from_the_recommender_seed():
    def settings(**values):
        return SCFTSettings.from_config({**overall_defaults(), **values})

    assert settings(seed=2021, scft_seed=None).seed == 2021  # ~: RecBole's seed
    fixed = [settings(seed=s, scft_seed=2020) for s in (2020, 2021)]
    assert fixed[0].seed == fixed[1].seed == 2020 and fixed[0].key() == fixed[1].key()
    assert settings(seed=2020, scft_seed=5).key() != fixed[0].key()


def test_scft_pools_as_the_table_does(base_config):
    mean = SCFTSettings.from_defaults(seed=1)
    last = SCFTSettings.from_defaults(seed=1, pooling="last")
    assert (
        mean.pooling == "mean" and last.pooling == "last" and last.key() == {**mean.key(), "pooling": "last"}
    )
    with pytest.raises(ValueError, match="llm_pooling"):
        SCFTSettings.from_defaults(pooling="max")
    model, tokenizer = load_llm(base_config["llm_path"])
    texts = ["title is red", "title is blue night ; genre is drama"]
    with torch.no_grad():
        pooled = embed_texts(model, tokenizer, texts, 64, "last")
        hidden = model(**tokenizer(texts[1:], return_tensors="pt")).last_hidden_state[0, -1]
    torch.testing.assert_close(pooled[1], hidden, atol=1e-5, rtol=1e-5)
    first = run_scft(scft_config(base_config), TOKENS, show_progress=False)
    other = run_scft(scft_config(base_config, llm_pooling="last"), TOKENS, show_progress=False)
    assert other.key != first.key and other.report["settings"]["pooling"] == "last"


def test_bad_settings_name_the_option(base_config):
    with pytest.raises(ValueError, match="scft_batch_size"):
        SCFTSettings.from_defaults(batch_size=1)
    with pytest.raises(ValueError, match="scft_drop_ratio"):
        SCFTSettings.from_defaults(drop_ratio=1.0)
    with pytest.raises(ValueError, match="scft_lora_target_modules"):
        run_scft(scft_config(base_config, scft_lora_target_modules=["c_attn"]), TOKENS, show_progress=False)


def test_lora_on_the_last_layers_only(base_config):
    from recbole_llmemb.llm.lora import lora_model

    model, _ = load_llm(base_config["llm_path"])  # 2 decoder layers
    wrapped = lora_model(model, SCFTSettings.from_defaults(lora_layers=1))
    layers = {
        name.split("layers.")[1].split(".")[0] for name, _ in wrapped.named_parameters() if "lora_" in name
    }
    assert layers == {"1"}
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_learnable_temperature_trains_and_gradient_checkpointing_gives_the_same_steps(base_config, tmp_path):
    attributes = tiny_attributes(base_config)
    common = dict(batch_size=8, max_steps=3, learning_rate=0.003, seed=1, lora_dropout=0.0)
    model, tokenizer = load_llm(base_config["llm_path"])
    learned = train_scft(
        model, tokenizer, attributes, TEMPLATE, SCFTSettings.from_defaults(learnable_temperature=True, **common),
        str(tmp_path / "tau"), show_progress=False,
    )  # fmt: skip
    tau = torch.load(tmp_path / "tau" / "checkpoint.pt", weights_only=False)["log_tau"].exp()
    assert not math.isclose(float(tau), 0.05, rel_tol=1e-4)
    runs = []
    for checkpointing in (False, True):
        model, tokenizer = load_llm(base_config["llm_path"])
        settings = SCFTSettings.from_defaults(gradient_checkpointing=checkpointing, **common)
        runs.append(
            train_scft(
                model, tokenizer, attributes, TEMPLATE, settings, str(tmp_path / str(checkpointing)), False
            )
        )
    assert runs[1].losses == pytest.approx(runs[0].losses, rel=1e-4)
    assert learned.losses[0] == pytest.approx(runs[0].losses[0], rel=1e-5)  # same start, then tau moves


def test_scft_on_a_bfloat16_llm_keeps_lora_weights_in_float32(base_config):
    from safetensors.torch import load_file

    outcome = run_scft(scft_config(base_config, llm_dtype="bfloat16"), TOKENS, show_progress=False)
    assert outcome.key != run_scft(scft_config(base_config), TOKENS, show_progress=False).key
    assert outcome.report["inputs"]["llm_dtype"] == "bfloat16" and np.isfinite(
        outcome.report["loss_last_mean"]
    )
    weights = load_file(os.path.join(outcome.adapter_dir, "adapter_model.safetensors"))
    assert weights and {tensor.dtype for tensor in weights.values()} == {torch.float32}


def test_scft_dtype_sets_scfts_precision_and_the_table_exports_in_llm_dtype(base_config):
    from recbole_llmemb.artifacts.records import read_record

    mixed = scft_config(base_config, scft_dtype="bfloat16")  # llm_dtype stays float32
    outcome = run_scft(mixed, TOKENS, show_progress=False)
    assert outcome.report["inputs"]["llm_dtype"] == "bfloat16"
    # The same SCFT run as an all-bfloat16 job's (one cache entry), a different one from float32's.
    assert (
        outcome.key
        == run_scft(scft_config(base_config, llm_dtype="bfloat16"), TOKENS, show_progress=False).key
    )
    assert outcome.key != run_scft(scft_config(base_config), TOKENS, show_progress=False).key
    _, key = build_llm_table(mixed, TOKENS)
    assert read_record(table_files(mixed, TOKENS, 0).raw)["inputs"]["llm_dtype"] == "float32"
    _, all_half = build_llm_table(scft_config(base_config, llm_dtype="bfloat16"), TOKENS)
    _, all_full = build_llm_table(scft_config(base_config), TOKENS)
    assert len({key, all_half, all_full}) == 3
    with pytest.raises(ValueError, match="scft_dtype: 'half'"):
        run_scft(scft_config(base_config, scft_dtype="half"), TOKENS, show_progress=False)
