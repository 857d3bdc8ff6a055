"""Seconds per training step and peak memory as the catalog grows: 12k, 100k and 1M items.

Synthetic data: users with 12 interactions each, items drawn from a Zipf law (exponent 1.1),
plus one interaction per item so that every item of the catalog exists; a random LLM table of
128 dimensions (``llmemb_table_file``: speed does not depend on its values). SASRec, batch 256,
history 20, hidden 64, adapter 128 -> 1024 -> 64. Each (catalog, model, loss) runs in a fresh
process, so its peak resident memory is its own; one thread.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/catalog_scale.py --items=12000,100000,1000000

Full cross-entropy through the adapter on 1M items would hold 1M x 1024 activations several
times over (tens of GB): it is skipped there, with the estimate printed instead. The last row
of each catalog times full-ranking evaluation (every item scored for each test user, top 10
kept) in the chunks ``load_data`` sizes to the catalog.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

VARIANTS = ("plain CE", "plain sampled", "LLMEmb CE", "LLMEmb sampled", "LLMEmb full ranking")
NEGATIVES = 1024
USERS_PER_ITEM = 0.05  # 600 users at 12k items, 50k at 1M


def write_catalog(folder: str, n_items: int, seed: int = 0) -> str:
    """``<folder>/synthetic/synthetic.inter|.item`` and a random table; the table's path."""
    rng = np.random.default_rng(seed)
    path = os.path.join(folder, "synthetic")
    os.makedirs(path, exist_ok=True)
    n_users = max(600, int(USERS_PER_ITEM * n_items))
    zipf = rng.zipf(1.1, size=n_users * 12) % n_items  # popular items first
    coverage = rng.permutation(n_items)  # every item once, so the catalog is n_items large
    items = np.concatenate([zipf, coverage])
    users = np.concatenate([np.repeat(np.arange(n_users), 12), rng.integers(0, n_users, size=n_items)])
    order = np.lexsort((rng.random(len(users)), users))
    with open(os.path.join(path, "synthetic.inter"), "w") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        handle.writelines(
            f"u{u}\ti{i}\t{t}\n" for t, (u, i) in enumerate(zip(users[order], items[order], strict=True))
        )
    with open(os.path.join(path, "synthetic.item"), "w") as handle:
        handle.write("item_id:token\ttitle:token_seq\n")
        handle.writelines(f"i{i}\titem {i}\n" for i in range(n_items))
    table = os.path.join(folder, "table.npz")
    np.savez(
        table,
        tokens=np.array([f"i{i}" for i in range(n_items)]),
        vectors=rng.normal(size=(n_items, 128)).astype(np.float32),
    )
    return table


def run_one(folder: str, table: str, variant: str, steps: int) -> dict:
    """Seconds per training step of one variant (``step_cost.seconds_per_step``), in this process."""
    import torch
    from step_cost import WARMUP, seconds_per_step

    from recbole_llmemb.data import load_data
    from recbole_llmemb.evaluation.popularity import training_item_popularity
    from recbole_llmemb.model.sampled_softmax import SampledSoftmaxLoss
    from recbole_llmemb.quick_start import make_config
    from recbole_llmemb.trainer import LongTailTrainer, RATTrainer

    torch.set_num_threads(1)
    llmemb, sampled = variant.startswith("LLMEmb"), variant.endswith("sampled")
    settings = {
        "data_path": folder, "checkpoint_dir": os.path.join(folder, "saved"), "show_progress": False,
        "state": "WARNING", "llmemb_table_file": table, "align_weight": 0.0,
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "sampled_softmax_negatives": NEGATIVES if sampled else 0,
    }  # fmt: skip
    config = make_config("LLMEmbSASRec" if llmemb else "SASRec", "synthetic", config_dict=settings)
    _, train_data, _, test_data = load_data(config)
    model = config.model_class(config, train_data.dataset)
    trainer = (RATTrainer if llmemb else LongTailTrainer)(config, model)
    if sampled:  # what the trainer builds at its first epoch
        counts = training_item_popularity(train_data.dataset, model.n_items)
        trainer.recommendation_loss.sampled_softmax = SampledSoftmaxLoss.from_config(config, model, counts)
    if variant.endswith("full ranking"):
        return {**full_ranking_cost(model, test_data, batches=10), "items": model.n_items - 1}
    if llmemb:
        loss = trainer.batch_loss
    else:
        loss = lambda batch: ((trainer.recommendation_loss.sampled_softmax or model.calculate_loss)(batch),)  # noqa: E731
    batches = list(itertools.islice(train_data, steps + WARMUP))
    return {"s_per_step": seconds_per_step(trainer, batches, loss), "items": model.n_items - 1}


def full_ranking_cost(model, test_data, batches: int) -> dict:
    """Seconds per test user of full ranking (every item scored, top 10 kept), in the chunks that
    ``load_data`` sizes to the catalog; the first ``batches`` chunks."""
    import torch

    model.eval()
    seconds, users = 0.0, 0
    with torch.no_grad():
        for interaction, *_ in itertools.islice(test_data, batches):
            start = time.perf_counter()
            torch.topk(model.full_sort_predict(interaction).view(len(interaction), -1), 10)
            seconds += time.perf_counter() - start
            users += len(interaction)
    return {"s_per_step": seconds / users, "users_per_chunk": test_data.step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="12000,100000,1000000")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS)
    )
    parser.add_argument("--one", nargs=3, metavar=("FOLDER", "TABLE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = run_one(*args.one[:2], args.one[2], args.steps)
        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(json.dumps(result))
        return
    print(
        f"SASRec, batch 256, history 20, hidden 64, adapter 1024 wide, sampled softmax K = {NEGATIVES}, one thread"
    )
    print("| items | variant | s / step | peak RSS (GiB) |")
    print("|---|---|---|---|")
    for n_items in (int(n) for n in args.items.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            table = write_catalog(folder, n_items)
            for variant in args.variants.split(","):
                if variant == "LLMEmb CE" and n_items >= 1_000_000:
                    gib = n_items * 1024 * 4 * 4 / 2**30  # 1024-wide activations kept for backward, ~4 copies
                    print(f"| {n_items:,} | {variant} | skipped: ~{gib:.0f} GiB of activations | |")
                    continue
                job = subprocess.run(
                    [sys.executable, __file__, "--steps", str(args.steps), "--one", folder, table, variant],
                    capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                )  # fmt: skip
                if job.returncode != 0:
                    print(f"| {n_items:,} | {variant} | failed: {job.stderr.strip().splitlines()[-1]} | |")
                    continue
                result = json.loads(job.stdout.strip().splitlines()[-1])
                seconds = f"{result['s_per_step']:.3f}"
                if "users_per_chunk" in result:  # evaluation: per test user
                    seconds = f"{1000 * result['s_per_step']:.2f} ms / user, {result['users_per_chunk']} users a chunk"
                print(f"| {result['items']:,} | {variant} | {seconds} | {result['peak_rss_gib']:.2f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
