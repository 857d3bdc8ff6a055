"""Table export and SCFT on one process with two threads vs two processes with one thread each,
in float32 and bfloat16 (the bundled SmolLM2-135M, ml-100k item prompts).

The same global work in every case: ``--items`` prompts embedded (split over the processes), and
``--steps`` SCFT steps of a global batch of 16 (16 on one process, 8 on each of two).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/scale_out.py --items=256 --steps=4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(args) -> None:
    """One configuration, run in every process of it; rank 0 prints a JSON line."""
    from llm_precision import dataset_prompts  # this folder's script

    from recbole_llmemb.distributed import barrier, init_from_environment, is_main, rank, world_size
    from recbole_llmemb.llm.loading import load_llm
    from recbole_llmemb.llm.scft_trainer import SCFTTrainer
    from recbole_llmemb.llm.table_export import embed_prompts
    from recbole_llmemb.settings import SCFTSettings

    init_from_environment()
    torch.set_num_threads(args.threads)
    config, tokens, attributes, template, prompts, _ = dataset_prompts(args.items)
    dtype = getattr(torch, args.dtype)
    model, tokenizer = load_llm(None, "cpu", dtype)
    barrier()
    start = time.perf_counter()
    embed_prompts(model, tokenizer, prompts[rank() :: world_size()], batch_size=16, show_progress=False)
    barrier()
    export = len(prompts) / (time.perf_counter() - start)
    settings = SCFTSettings.from_config(config)
    settings.batch_size = 16 // world_size()
    trainer = SCFTTrainer(
        model, tokenizer, [attributes[t] for t in tokens], template, settings, tempfile.mkdtemp()
    )
    first, second = trainer.sampler.views(0)
    batches = trainer.sampler.batches(0)
    trainer.train_step(first, second, batches[:1])  # warm-up
    barrier()
    start = time.perf_counter()
    for k in range(1, args.steps + 1):
        trainer.train_step(first, second, batches[k : k + 1])
    barrier()
    steps = args.steps / (time.perf_counter() - start)
    if is_main():
        print(json.dumps({"export": export, "steps": steps}), flush=True)


def measure(processes: int, threads: int, dtype: str, args) -> dict:
    script = [os.path.abspath(__file__), "--worker", f"--threads={threads}", f"--dtype={dtype}",
              f"--items={args.items}", f"--steps={args.steps}"]  # fmt: skip
    if processes > 1:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
    else:
        command = [sys.executable]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=ROOT)
    done = subprocess.run([*command, *script], env=env, capture_output=True, text=True, check=True)
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    print(f"SmolLM2-135M, {args.items} ml-100k prompts, {args.steps} SCFT steps of a global batch of 16")
    print("| dtype | processes x threads | export items / s | SCFT steps / s |")
    print("|---|---|---|---|")
    for dtype in ("float32", "bfloat16"):
        for processes, threads in ((1, 2), (2, 1)):
            row = measure(processes, threads, dtype, args)
            print(
                f"| {dtype} | {processes} x {threads} | {row['export']:.1f} | {row['steps']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
