"""Speed and agreement of the bundled LLM in float32 and bfloat16: table export and SCFT steps.

Embeds the first ``--items`` ml-100k item prompts with SmolLM2-135M (the default LLM) in each
dtype, and times ``--steps`` SCFT steps; reports items/s, steps/s, and how close the bf16 vectors
are to float32's (cosine, max abs difference). One thread unless ``--threads``.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/llm_precision.py --items=256 --steps=4
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from recbole_llmemb.data import load_data
from recbole_llmemb.llm.loading import load_llm
from recbole_llmemb.llm.prompts import PromptTemplate, dataset_attributes, render_prompts
from recbole_llmemb.llm.scft_trainer import SCFTTrainer
from recbole_llmemb.llm.table_export import embed_prompts
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.settings import SCFTSettings


def dataset_prompts(items: int, dataset: str = "ml-100k"):
    """``(config, tokens, attributes, template, prompts, n_items)``: the first ``items`` items of
    ``dataset`` with their prompts, and how many items the dataset has."""
    config = make_config("LLMEmbSASRec", dataset, config_dict={"state": "WARNING", "show_progress": False})
    every = list(load_data(config)[0].field2id_token["item_id"])[1:]
    tokens = every[:items]
    attributes = dataset_attributes(config, tokens)
    template = PromptTemplate.from_config(config)
    prompts = list(render_prompts(attributes, template).values())
    return config, tokens, attributes, template, prompts, len(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, tokens, attributes, template, prompts, _ = dataset_prompts(args.items)
    settings = SCFTSettings.from_config(config)
    rows, vectors = [], {}
    for dtype in (torch.float32, torch.bfloat16):
        model, tokenizer = load_llm(None, "cpu", dtype)
        start = time.perf_counter()
        vectors[dtype] = embed_prompts(model, tokenizer, prompts, batch_size=16, show_progress=False)
        export = len(prompts) / (time.perf_counter() - start)
        trainer = SCFTTrainer(
            model, tokenizer, [attributes[t] for t in tokens], template, settings, tempfile.mkdtemp()
        )
        first, second = trainer.sampler.views(0)
        batches = trainer.sampler.batches(0)
        trainer.train_step(first, second, batches[:1])  # warm-up
        start = time.perf_counter()
        for k in range(1, args.steps + 1):
            trainer.train_step(first, second, batches[k : k + 1])
        steps = args.steps / (time.perf_counter() - start)
        rows.append((str(dtype).removeprefix("torch."), export, steps))
    full, half = vectors[torch.float32], vectors[torch.bfloat16]
    cosine = (full * half).sum(1) / (np.linalg.norm(full, axis=1) * np.linalg.norm(half, axis=1))
    print(
        f"SmolLM2-135M, {len(prompts)} ml-100k prompts, SCFT batch {settings.batch_size}, {args.threads} thread(s)"
    )
    print("| dtype | export items / s | SCFT steps / s |")
    print("|---|---|---|")
    for name, export, steps in rows:
        print(f"| {name} | {export:.1f} | {steps:.3f} |")
    print(
        f"bf16 vs float32 pooled vectors: cosine min {cosine.min():.6f}, mean {cosine.mean():.6f};"
        f" max abs difference {np.abs(full - half).max():.4f} (largest |value| {np.abs(full).max():.2f})"
    )


if __name__ == "__main__":
    main()
