"""README.md's Python example, run as written on the tiny data (so the README cannot drift from the code)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_block(heading: str) -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_api_example_runs_to_a_result(base_config, capsys):
    code = readme_block("## Python API")
    assert '"ml-100k"' in code and "config_dict={" in code
    # The same code on the tiny dataset and LLM: each config_dict gets the tiny settings first.
    tiny = code.replace('"ml-100k"', '"tiny"').replace("config_dict={", "config_dict={**TINY, ")
    exec(compile(tiny, "README.md", "exec"), {"TINY": base_config})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    plain_ndcg, llmemb_ndcg = map(float, lines[0].split())
    best_valid, hit = map(float, lines[1].split())
    assert (
        0.0 <= plain_ndcg <= 1.0
        and 0.0 <= llmemb_ndcg <= 1.0
        and 0.0 <= best_valid <= 1.0
        and 0.0 <= hit <= 1.0
    )


@pytest.mark.slow
def test_main_job_command_runs_as_written_on_the_tiny_data(base_config, tmp_path):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    install_and_run = next(line for line in text.splitlines() if "python run_recbole_llmemb.py" in line)
    command = install_and_run.split("&&")[-1].split()
    assert command[:2] == ["python", "run_recbole_llmemb.py"] and "--dataset=ml-100k" in command
    settings = [f"--{key}={value}" for key, value in dict(base_config, epochs=1).items() if key != "load_col"]
    settings.append("--load_col={'inter':['user_id','item_id','timestamp']}")
    argv = [sys.executable, os.path.join(ROOT, command[1])]
    argv += [a.replace("--dataset=ml-100k", "--dataset=tiny") for a in command[2:]] + settings
    job = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stderr[-2000:]
    assert "| SASRec |" in job.stdout and "| LLMEmbSASRec |" in job.stdout
