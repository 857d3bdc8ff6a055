"""SCFT and table-export cost of LLaMA-shaped models, and a projection for a whole catalog on N GPUs.

Speed does not need trained weights: the model is built from a LLaMA-shaped config with random
weights directly in ``--dtype`` on ``--device`` (nothing is downloaded), with the bundled
tokenizer. It embeds the first ``--items`` item prompts of ``--dataset`` with the product's own
export (``embed_prompts``) and times ``--steps`` SCFT steps of the product's trainer (LoRA on every
layer, as the paper; gradient checkpointing for the large shapes). From the measured per-item
costs it projects the table export of the whole catalog and ``--scft_epochs`` SCFT epochs of a
global batch of ``--scft_batch_size`` on 1, 4 and 8 GPUs, assuming data-parallel scaling without
communication cost (the LoRA gradients are tens of MB) and the dataset's prompt lengths.

    python benchmarks/llm_scale.py --device=cuda --shape=7b --dataset=amazon-beauty
    python benchmarks/llm_scale.py --device=cpu --shape=smollm2 --items=32 --steps=2   # a CPU check
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import torch
from llm_precision import dataset_prompts  # this folder's script

from recbole_llmemb.llm.loading import LLM_DTYPES, load_llm
from recbole_llmemb.llm.scft_trainer import SCFTTrainer
from recbole_llmemb.llm.table_export import embed_prompts
from recbole_llmemb.settings import SCFTSettings

# Public model shapes (hidden, layers, attention heads, key-value heads, MLP width).
SHAPES = {
    "smollm2": None,  # the bundled SmolLM2-135M's own config
    "1b": (2048, 16, 32, 8, 8192),  # LLaMA-3.2-1B
    "3b": (3072, 28, 24, 8, 8192),  # LLaMA-3.2-3B
    "7b": (4096, 32, 32, 32, 11008),  # LLaMA-2-7B, the paper's LLM
}


def random_model(shape: str, device: str, dtype: torch.dtype):
    """``(model, tokenizer)``: the bundled tokenizer and a decoder of ``shape`` with random weights."""
    from transformers import AutoModel, LlamaConfig

    small, tokenizer = load_llm(None, "cpu", dtype)
    if SHAPES[shape] is None:
        return small.to(device), tokenizer
    hidden, layers, heads, kv_heads, width = SHAPES[shape]
    config = LlamaConfig(
        vocab_size=small.config.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, intermediate_size=width,
        max_position_embeddings=4096,
    )  # fmt: skip
    with torch.device(device):
        model = AutoModel.from_config(config, dtype=dtype)
    return model.eval(), tokenizer


def sync(device: str) -> bool:
    """Wait for the GPU's queued work; whether ``device`` is a GPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="smollm2", choices=sorted(SHAPES))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(LLM_DTYPES))
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--items", type=int, default=256, help="prompts embedded for the export rate")
    parser.add_argument("--steps", type=int, default=4, help="timed SCFT steps (after one warm-up step)")
    parser.add_argument("--llm_batch_size", type=int, default=64)
    parser.add_argument("--scft_batch_size", type=int, default=64, help="items per step (two views each)")
    parser.add_argument("--scft_epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = LLM_DTYPES[args.dtype]
    config, tokens, attributes, template, prompts, catalog = dataset_prompts(args.items, args.dataset)
    model, tokenizer = random_model(args.shape, args.device, dtype)
    parameters = sum(p.numel() for p in model.parameters())

    embed_prompts(model, tokenizer, prompts[: args.llm_batch_size], batch_size=args.llm_batch_size)  # warm-up
    sync(args.device)
    start = time.perf_counter()
    embed_prompts(model, tokenizer, prompts, batch_size=args.llm_batch_size, show_progress=False)
    sync(args.device)
    export = len(prompts) / (time.perf_counter() - start)

    settings = dataclasses.replace(
        SCFTSettings.from_config(config),
        batch_size=args.scft_batch_size, lora_layers=0, gradient_checkpointing=args.shape != "smollm2",
    )  # fmt: skip
    trainer = SCFTTrainer(
        model, tokenizer, [attributes[t] for t in tokens], template, settings, tempfile.mkdtemp()
    )
    first, second = trainer.sampler.views(0)
    batches = trainer.sampler.batches(0)
    if len(batches) < args.steps + 1:
        raise SystemExit(
            f"--items={args.items}: too few for {args.steps + 1} SCFT batches of {args.scft_batch_size}"
        )
    trainer.train_step(first, second, batches[:1])  # warm-up
    sync(args.device)
    start = time.perf_counter()
    for k in range(1, args.steps + 1):
        trainer.train_step(first, second, batches[k : k + 1])
    sync(args.device)
    step = (time.perf_counter() - start) / args.steps

    weights = "its own weights" if SHAPES[args.shape] is None else "random weights"
    memory = (
        f"; peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if sync(args.device) else ""
    )
    print(
        f"{args.shape} ({parameters / 1e9:.2f}B parameters, {weights}), {args.dtype}, {args.device}{memory}"
    )
    print(f"export of {args.dataset} prompts: {export:.1f} items / s (batch {args.llm_batch_size})")
    print(f"SCFT: {step:.3f} s / step of {args.scft_batch_size} items, two views each (LoRA on every layer)")
    steps = args.scft_epochs * -(-catalog // args.scft_batch_size)
    print(f"\nProjection for the {catalog:,} items of {args.dataset}:\n")
    print(
        f"| GPUs | table export (min) | SCFT, {args.scft_epochs} epochs of {steps // args.scft_epochs} steps (min) |"
    )
    print("|---|---|---|")
    for gpus in (1, 4, 8):
        print(f"| {gpus} | {catalog / export / gpus / 60:.1f} | {steps * step / gpus / 60:.1f} |")


if __name__ == "__main__":
    main()
