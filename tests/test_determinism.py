"""Same command, seed and thread count: the same report numbers, run after run."""

import json
import subprocess
import sys

import pytest

JOB = """
import json, sys
import torch
torch.set_num_threads(1)
from recbole_llmemb import run
outcome = run("SASRec", "tiny", config_dict=json.loads(sys.argv[1]))
print(json.dumps({"plain": outcome["plain"]["test_results"], "llmemb": outcome["llmemb"]["test_results"]}))
"""


@pytest.mark.slow
def test_the_tiny_job_twice_from_scratch_gives_the_same_numbers(base_config, tmp_path):
    results = []
    for attempt in ("first", "second"):  # fresh processes, empty caches: everything trained twice
        settings = dict(
            base_config,
            epochs=2,
            scft=True,
            checkpoint_dir=str(tmp_path / attempt),
            results_dir=str(tmp_path / f"r-{attempt}"),
        )
        job = subprocess.run(
            [sys.executable, "-c", JOB, json.dumps(settings)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert job.returncode == 0, job.stderr[-2000:]
        results.append(json.loads(job.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]
    assert results[0]["llmemb"]["full"]["hit@10"] > 0  # a real result, not two empty ones
