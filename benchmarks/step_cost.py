"""Seconds per training step: plain backbone vs LLMEmb without and with the alignment loss.

Times ``--steps`` optimiser steps (after 5 warm-up steps) on the dataset's first training
batches, with the product's own pieces: RecBole's model and optimizer, and for LLMEmb the RAT
trainer's loss. The alignment target is random (the cost does not depend on its values), so no
plain model needs training; the LLM table comes from the cache (or is built first).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/step_cost.py --dataset=amazon-beauty --threads=1

With a sampled-negative loss (``--config_files=one-negative``) a
further row times LLMEmb with the whole table adapted every step, as before ``row_lookup``.
Under CE, further rows time the adapter under bf16 autocast (``adapter_dtype``) and the sampled
softmax (``--negatives`` K) for both models. ``--random_table`` times against a random LLM table
(the cost does not depend on its values) instead of building the real one. ``--profile N`` then
prints torch.profiler's operator table (self CPU time, top N) of the LLMEmb-with-alignment steps:
where the time of a step goes.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from random_table import write_random_table
from recbole.data.transform import construct_transform

from recbole_llmemb import BACKBONES
from recbole_llmemb.data import load_data
from recbole_llmemb.evaluation.popularity import training_item_popularity
from recbole_llmemb.model.sampled_softmax import SampledSoftmaxLoss
from recbole_llmemb.quick_start import make_config, prepare_table
from recbole_llmemb.trainer import LongTailTrainer, RATTrainer

WARMUP = 5


def optimiser_step(trainer, batch, loss) -> None:
    """Forward, backward and optimiser step on one batch."""
    trainer.optimizer.zero_grad()
    sum(loss(batch)).backward()
    trainer.optimizer.step()


def seconds_per_step(trainer, batches, loss) -> float:
    """Mean wall seconds of :func:`optimiser_step` over the batches after warm-up."""
    trainer.model.train()
    total = 0.0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        optimiser_step(trainer, batch, loss)
        if i >= WARMUP:
            total += time.perf_counter() - start
    return total / (len(batches) - WARMUP)


def profile_steps(trainer, batches, loss, top: int) -> str:
    """torch.profiler's operator table (self CPU time) of the steps after warm-up."""
    from torch.profiler import ProfilerActivity, profile

    trainer.model.train()
    for batch in batches[:WARMUP]:
        optimiser_step(trainer, batch, loss)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[WARMUP:]:
            optimiser_step(trainer, batch, loss)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="SASRec", choices=sorted(BACKBONES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config_files", default=None, help="comma-separated YAML files, as for the runner")
    parser.add_argument("--negatives", type=int, default=1024, help="K of the sampled-softmax rows")
    parser.add_argument("--random_table", action="store_true", help="a random LLM table, not the built one")
    parser.add_argument("--profile", type=int, default=0, help="print the top N operators of the LLMEmb step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    llmemb_class = BACKBONES[args.model]
    settings = {"show_progress": False, "state": "WARNING"}
    files = args.config_files.split(",") if args.config_files else None

    def model_config(model_class):
        """The run's config for ``model_class``, with the keys BERT4Rec's masking transform sets
        (``load_data`` sets them only on the config it is given)."""
        config = make_config(model_class, args.dataset, files, settings)
        construct_transform(config)
        return config

    config = model_config(llmemb_class)
    dataset, train_data, _, _ = load_data(config)
    if args.random_table:
        settings["llmemb_table_file"] = write_random_table(dataset, config)
        config = model_config(llmemb_class)
    else:
        prepare_table(config, dataset)  # the LLMEmb models load it (built once, then cached)
    batches = list(itertools.islice(train_data, args.steps + WARMUP))
    n_batches = len(train_data)
    counts = training_item_popularity(train_data.dataset, train_data.dataset.item_num)

    def plain_row(name: str, negatives: int) -> tuple[str, float]:
        plain_config = model_config(llmemb_class.backbone)
        plain = LongTailTrainer(plain_config, llmemb_class.backbone(plain_config, train_data.dataset))
        loss = SampledSoftmaxLoss(plain.model, negatives, counts) if negatives else plain.model.calculate_loss
        return name, seconds_per_step(plain, batches, lambda b: (loss(b),))

    rows = [plain_row("plain " + args.model, 0)]
    target = torch.randn(train_data.dataset.item_num, config[llmemb_class.embedding_size_key])
    variants = [("LLMEmb, no alignment", 0.0, {}), ("LLMEmb, alignment", config["align_weight"], {})]
    if config["loss_type"] != "CE":
        variants.append(
            ("LLMEmb, alignment, whole table every step", config["align_weight"], {"row_lookup": False})
        )
    else:
        variants.append(
            ("LLMEmb, alignment, bf16 adapter", config["align_weight"], {"adapter_dtype": torch.bfloat16})
        )
        variants.append(
            (f"LLMEmb, alignment, sampled softmax K={args.negatives}", config["align_weight"], {"K": 1})
        )
    for name, weight, change in variants:
        config["align_weight"] = weight
        model = llmemb_class(config, train_data.dataset)
        model.item_embedding.row_lookup = model.item_embedding.row_lookup and change.get("row_lookup", True)
        model.item_embedding.adapter_dtype = change.get("adapter_dtype", torch.float32)
        rat = RATTrainer(config, model, align_target=target)
        if "K" in change:
            model.item_embedding.row_lookup = True
            rat.recommendation_loss.sampled_softmax = SampledSoftmaxLoss(model, args.negatives, counts)
        rows.append((name, seconds_per_step(rat, batches, rat.batch_loss)))
        if args.profile and name == "LLMEmb, alignment":
            profile = profile_steps(rat, batches, rat.batch_loss, args.profile)
    if config["loss_type"] == "CE":
        rows.append(plain_row(f"plain {args.model}, sampled softmax K={args.negatives}", args.negatives))

    print(
        f"{args.dataset}, {args.model}, loss {config['loss_type']}, {args.threads} thread(s), {n_batches} batches per epoch:"
    )
    print("| model | s / step | s / epoch (estimate) |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds * n_batches:.0f} |")
    if args.profile:
        print(
            f"\nLLMEmb, alignment: the top {args.profile} operators by self CPU time over {args.steps} steps"
        )
        print(profile)


if __name__ == "__main__":
    main()
