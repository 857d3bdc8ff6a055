"""Fixtures: tiny synthetic RecBole atomic data and a tiny randomly initialised Llama."""

from __future__ import annotations

import random
import sys

import pytest

GENRES = ["drama", "comedy", "action", "horror", "romance"]
WORDS = ["red", "blue", "night", "city", "dream", "river", "star", "storm", "garden", "ghost"]
N_USERS, N_ITEMS = 40, 30


def write_tiny_dataset(folder, name: str = "tiny", seed: int = 0) -> None:
    """``<folder>/<name>/<name>.inter|.item``: 40 users, 30 items, 6-12 interactions per user.

    Item 30 has no row in .item and item 29 has only empty fields (items without text).
    """
    rng = random.Random(seed)
    path = folder / name
    path.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, N_USERS + 1):
        items = rng.sample(range(1, N_ITEMS + 1), rng.randint(6, 12))
        lines += [f"u{user}\ti{item}\t{t}" for t, item in enumerate(items, start=1)]
    (path / f"{name}.inter").write_text("\n".join(lines) + "\n")
    rows = ["item_id:token\ttitle:token_seq\tgenre:token_seq\tyear:token"]
    for item in range(1, N_ITEMS - 1):
        title = " ".join(rng.sample(WORDS, 2))
        genres = " ".join(rng.sample(GENRES, 2))
        rows.append(f"i{item}\t{title}\t{genres}\t{1980 + item}")
    rows.append(f"i{N_ITEMS - 1}\t\t\t")
    (path / f"{name}.item").write_text("\n".join(rows) + "\n")


def write_tiny_llm(folder) -> str:
    """A 2-layer Llama with random weights and a word-level tokenizer, saved as a HF model dir."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "</s>": 2}
    text = "the item movie has following attributes : is ; title genre genres year item id , \n"
    for word in text.split() + WORDS + GENRES + [str(1980 + i) for i in range(N_ITEMS)]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>"
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=1,
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    LlamaModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(autouse=True, scope="session")
def own_file_hash_memo(tmp_path_factory):
    """The file-hash memo lives under XDG_CACHE_HOME: a folder of the test session, not the user's home."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(autouse=True)
def clean_argv(monkeypatch):
    """RecBole's Config reads sys.argv: keep pytest's own arguments out of it."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory) -> str:
    return write_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")


@pytest.fixture
def data_root(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def base_config(tmp_path, data_root, tiny_llm) -> dict:
    """Small, fast settings on the tiny dataset and tiny LLM (CPU)."""
    return {
        "data_path": str(data_root),
        "checkpoint_dir": str(tmp_path / "saved"),
        "results_dir": str(tmp_path / "results"),
        "llm_path": tiny_llm,
        "llm_pca_dim": 8,
        "llm_batch_size": 8,
        "hidden_size": 16,
        "inner_size": 32,
        "n_layers": 1,
        "n_heads": 2,
        "embedding_size": 16,
        "MAX_ITEM_LIST_LENGTH": 5,
        "train_batch_size": 64,
        "epochs": 2,
        "stopping_step": 2,
        "use_gpu": False,
        "seed": 2020,
        "show_progress": False,
        "prompt_fields": ["title", "genre", "year"],
        "prompt_list_fields": ["genre"],
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "scft": False,  # SCFT tests switch it on; elsewhere the untuned tiny LLM keeps tests focused
        "scft_max_steps": 2,
        "scft_batch_size": 8,
        "scft_eval_items": 8,
        "log_wandb": False,
        "state": "WARNING",
    }


@pytest.fixture
def llmemb_model():
    """``build(config, data)``: the table stage for ``config``'s LLMEmb model, then the model itself."""
    from recbole_llmemb.quick_start import prepare_table

    def build(config, data):
        prepare_table(config, data[0])
        return config.model_class(config, data[1].dataset)

    return build
