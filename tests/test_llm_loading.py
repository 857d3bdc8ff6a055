"""Loading the LLM: a checkpoint transformers cannot fully map is refused, never filled with noise."""

import shutil

import pytest
from safetensors.torch import load_file, save_file

from recbole_llmemb.llm.loading import load_llm


def test_a_checkpoint_with_missing_weights_is_refused(tiny_llm, tmp_path):
    load_llm(tiny_llm)  # complete: loads
    broken = tmp_path / "broken-llm"
    shutil.copytree(tiny_llm, broken)
    weights = load_file(broken / "model.safetensors")
    del weights["norm.weight"]
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        ValueError, match=r"llm_path: .*broken-llm: 1 weights of the model are not in the checkpoint"
    ):
        load_llm(str(broken))
