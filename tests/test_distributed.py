"""Two processes with the gloo backend, launched as the README says (torchrun, or RecBole's --nproc),
against one process: the same table, the same LoRA weights, the same evaluation."""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]  # a free port each time

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")


def readme_commands() -> list[str]:
    """The commands of README's scale-out section, continuation lines joined."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Several processes") :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [
        line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip() and line[0] != "#"
    ]


def documented(start: str) -> list[str]:
    """The README command starting with ``start``, as an argument list (``python``: this interpreter)."""
    command = next(c for c in readme_commands() if c.startswith(start)).split()
    if command[0] == "torchrun":
        command = [*TORCHRUN, *command[1:]]
    if command[0] == "accelerate":
        command = [os.path.join(os.path.dirname(sys.executable), "accelerate"), *command[1:]]
    # Two processes here (the README's machine has more): the same command otherwise.
    command = [re.sub(r"^--(nproc_per_node|nproc|num_processes)=\d+$", r"--\1=2", part) for part in command]
    assert command[-1].startswith("--") or command[-1].endswith(".py")
    return [sys.executable if part == "python" else part for part in command]


def settings(base_config, **overrides) -> list[str]:
    values = dict(base_config, **overrides)
    values.pop("load_col")
    return [f"--{key}={value}" for key, value in values.items()]


def run(command: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_readme_documents_each_launcher():
    commands = readme_commands()
    assert any(c.startswith("torchrun --nproc_per_node=") and "--stage=table" in c for c in commands)
    assert any(c.startswith("torchrun --nnodes=2") for c in commands)
    assert any(c.startswith("python run_recbole_llmemb.py") and "--nproc=" in c for c in commands)
    assert any(c.startswith("accelerate launch --multi_gpu --num_processes=") for c in commands)


@pytest.mark.slow
def test_table_export_on_two_processes_equals_one(base_config, tmp_path):
    from recbole_llmemb.llm.item_table import ItemTable

    one = settings(base_config, checkpoint_dir=tmp_path / "one", llm_pca_dim=0, dataset="tiny")
    two = settings(base_config, checkpoint_dir=tmp_path / "two", llm_pca_dim=0, dataset="tiny")
    command = documented("torchrun --nproc_per_node=")
    assert "--stage=table" in command
    run([sys.executable, "run_recbole_llmemb.py", "--stage=table", *one], tmp_path)
    run([*command, *two], tmp_path)
    # accelerate's launcher: the table stage alone, as in the README's whole-job command.
    accelerate = documented("accelerate launch")
    run(
        [
            *accelerate,
            "--stage=table",
            *settings(base_config, checkpoint_dir=tmp_path / "acc", llm_pca_dim=0, dataset="tiny"),
        ],
        tmp_path,
    )
    (a,) = glob.glob(str(tmp_path / "one" / "llmemb" / "tiny" / "llm-table-*.npz"))
    first = ItemTable.load(a)
    assert len(first.tokens) == 30
    for name in ("two", "acc"):
        (b,) = glob.glob(str(tmp_path / name / "llmemb" / "tiny" / "llm-table-*.npz"))
        assert os.path.basename(a) == os.path.basename(b)  # the same key: the same artifact
        second = ItemTable.load(b)
        assert first.tokens == second.tokens
        assert np.abs(first.vectors - second.vectors).max() <= 1e-5
        assert not glob.glob(
            str(tmp_path / name / "llmemb" / "tiny" / "*partial*")
        )  # each rank's share removed


@pytest.mark.slow
@pytest.mark.parametrize("accumulate", [1, 2], ids=["plain", "accumulation+checkpointing"])
def test_scft_on_two_processes_matches_one_with_the_same_global_batch(base_config, tmp_path, accumulate):
    # LoRA dropout off: each rank draws its own dropout masks, so with dropout the runs differ by them.
    common = dict(base_config, scft=True, scft_lora_dropout=0.0, scft_max_steps=3, dataset="tiny")
    if accumulate > 1:
        common.update(scft_gradient_accumulation=accumulate, scft_gradient_checkpointing=True)
    one = settings(common, checkpoint_dir=tmp_path / "one", scft_batch_size=8)
    two = settings(common, checkpoint_dir=tmp_path / "two", scft_batch_size=4)
    command = documented("torchrun --nproc_per_node=")
    run([sys.executable, "run_recbole_llmemb.py", "--stage=scft", *one], tmp_path)
    run([*[c.replace("--stage=table", "--stage=scft") for c in command], *two], tmp_path)
    (a,) = glob.glob(str(tmp_path / "one" / "llmemb" / "tiny" / "scft-*"))
    (b,) = glob.glob(str(tmp_path / "two" / "llmemb" / "tiny" / "scft-*"))
    first = load_file(os.path.join(a, "adapter", "adapter_model.safetensors"))
    second = load_file(os.path.join(b, "adapter", "adapter_model.safetensors"))
    assert first.keys() == second.keys() and any(v.abs().max() > 0.01 for v in first.values())
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=0, atol=1e-6)
    one_report, two_report = (json.load(open(os.path.join(d, "scft.json"))) for d in (a, b))
    assert two_report["processes"] == 2 and "processes" not in one_report
    assert two_report["loss_first"] == pytest.approx(one_report["loss_first"], abs=1e-6)


@pytest.mark.slow
def test_scft_on_two_processes_resumes_from_its_checkpoint(base_config, tmp_path):
    from test_scft import TOKENS, scft_config

    config = scft_config(base_config, scft_max_steps=4, scft_checkpoint_every=2, scft_batch_size=4)
    outcomes = {}
    for name, stops in (("whole", [0]), ("resumed", [3, 0])):
        for stop_after in stops:
            job = tmp_path / f"{name}.json"
            job.write_text(
                json.dumps(
                    {"config": config, "tokens": TOKENS, "out_dir": str(tmp_path / name), "stop_after": stop_after,
                     "out": str(tmp_path / f"{name}-out.json")}
                )
            )  # fmt: skip
            command = [
                *TORCHRUN,
                "--nproc_per_node=2",
                os.path.join(ROOT, "tests", "distributed_scft_worker.py"),
            ]
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
            done = subprocess.run([*command, str(job)], cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == (3 if stop_after else 0) or (stop_after and done.returncode != 0), (
                done.stderr
            )
        outcomes[name] = json.load(open(tmp_path / f"{name}-out.json"))
    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 4
    assert len(outcomes["resumed"]["losses"]) == 4  # steps 1-2 from the checkpoint, 3-4 trained again
    assert outcomes["resumed"]["losses"] == pytest.approx(outcomes["whole"]["losses"], abs=1e-6)
    assert outcomes["resumed"]["lora"] == pytest.approx(outcomes["whole"]["lora"], rel=1e-5)


@pytest.fixture(scope="module")
def rat_runs(tmp_path_factory, tiny_llm):
    """The whole job on one process, on two with torchrun, and on two with RecBole's launcher."""
    from conftest import write_tiny_dataset

    root = tmp_path_factory.mktemp("rat")
    write_tiny_dataset(root / "data")
    base = {
        "data_path": root / "data", "llm_path": tiny_llm, "llm_pca_dim": 8, "llm_batch_size": 8,
        "hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 2, "embedding_size": 16,
        "MAX_ITEM_LIST_LENGTH": 5, "train_batch_size": 64, "epochs": 2, "use_gpu": False, "seed": 2020,
        "show_progress": False, "prompt_fields": "['title','genre','year']", "prompt_list_fields": "['genre']",
        "scft": False, "state": "WARNING", "log_wandb": False, "dataset": "tiny",
    }  # fmt: skip
    runs = {}
    launchers = {
        "one": [sys.executable, "run_recbole_llmemb.py"],
        "torchrun": documented("torchrun --nnodes=1"),
        "nproc": documented("python run_recbole_llmemb.py"),
    }
    for name, command in launchers.items():
        folder = root / name
        args = [f"--{k}={v}" for k, v in base.items()]
        run([*command, *args, f"--checkpoint_dir={folder}", f"--results_dir={folder / 'results'}"], root)
        (report,) = glob.glob(str(folder / "results" / "tiny-SASRec-*-full.json"))
        runs[name] = (json.load(open(report)), folder, base)
    return runs


def metrics(report: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "model"} for row in report["rows"]]


@pytest.mark.slow
def test_rat_on_two_processes_completes_and_both_launchers_agree(rat_runs):
    one, torchrun, nproc = (rat_runs[name][0] for name in ("one", "torchrun", "nproc"))
    assert [r["model"] for r in torchrun["rows"]] == ["SASRec", "LLMEmbSASRec"]
    # Both launchers start the same two-process run: the same numbers.
    assert metrics(torchrun) == metrics(nproc)
    for single, double in zip(metrics(one), metrics(torchrun), strict=True):
        # Every test user is evaluated once (the distributed sampler's padding is dropped) ...
        assert double["tail_users"] + double["head_users"] == 40
        assert double["tail_users"] == single["tail_users"]
        # ... by a model trained on other batches (the sampler shuffles per rank): close, not equal.
        assert abs(double["hit@10"] - single["hit@10"]) <= 0.25


@pytest.mark.slow
def test_a_model_tested_on_two_processes_scores_as_on_one(rat_runs, tmp_path):
    one, folder, base = rat_runs["one"]
    (checkpoint,) = glob.glob(str(folder / "llmemb" / "tiny" / "LLMEmbSASRec-*.pth"))
    config = {k: (str(v) if k in ("data_path", "llm_path") else v) for k, v in base.items() if k != "dataset"}
    config.update(prompt_fields=["title", "genre", "year"], prompt_list_fields=["genre"])
    config.update(checkpoint_dir=str(folder), pretrained_srs_file=one["meta"]["SASRec checkpoint"])
    outcomes = []
    for n, launcher in enumerate(([sys.executable], [*TORCHRUN, "--nproc_per_node=2"])):
        job = tmp_path / f"job{n}.json"
        job.write_text(
            json.dumps(
                {"model": "LLMEmbSASRec", "dataset": "tiny", "config_dict": config, "checkpoint": checkpoint,
                 "out": str(tmp_path / f"out{n}.json")}
            )
        )  # fmt: skip
        run([*launcher, os.path.join(ROOT, "tests", "distributed_eval_worker.py"), str(job)], tmp_path)
        outcomes.append(json.load(open(tmp_path / f"out{n}.json")))
    assert [o["world_size"] for o in outcomes] == [1, 2]
    assert outcomes[0]["test_results"]["full"]["hit@10"] > 0
    assert outcomes[1]["test_results"] == outcomes[0]["test_results"]  # every metric, both protocols
