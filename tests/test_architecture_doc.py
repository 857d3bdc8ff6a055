"""docs/architecture.md's new-backbone template and its test, run as written."""

import os
import re

from recbole_llmemb.model import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_new_backbone_template_and_its_test_run(base_config, monkeypatch):
    text = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    model_code, test_code = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(model_code.strip().splitlines()) <= 20
    # Registration changes the lookups: undone after this test.
    monkeypatch.setattr(registry, "LLMEMB_MODELS", dict(registry.LLMEMB_MODELS))
    monkeypatch.setattr(registry, "BACKBONES", dict(registry.BACKBONES))
    namespace: dict = {}
    exec(compile(model_code, "docs/architecture.md", "exec"), namespace)
    assert registry.get_model("LLMEmbNARM") is namespace["LLMEmbNARM"]
    exec(compile(test_code, "docs/architecture.md", "exec"), namespace)
    namespace["test_llmemb_narm_scores_with_the_adapted_table"](base_config)
