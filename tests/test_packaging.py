"""The package as users get it: a built wheel in a fresh virtual environment, and a clean import graph."""

import ast
import json
import os
import subprocess
import sys
import sysconfig
import venv
from graphlib import CycleError, TopologicalSorter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "recbole_llmemb")

TINY_JOB = """
import json, os, sys
import recbole_llmemb
from recbole_llmemb import run
from recbole_llmemb.config import PROPERTIES_DIR
settings = json.loads(sys.argv[1])
outcome = run("SASRec", "tiny", config_dict=settings)
print(json.dumps({"package": recbole_llmemb.__file__, "properties": PROPERTIES_DIR,
                  "llmemb": outcome["llmemb"]["test_result"], "results": outcome["results"]}))
"""


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_runs_a_tiny_job_from_another_folder(tmp_path, base_config):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            ROOT,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("recbole_llmemb-*.whl")
    env_dir = tmp_path / "fresh-venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    fresh_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies (torch, recbole, ...) come from this environment; the package only from the wheel.
    with open(os.path.join(fresh_site, "dependencies.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings = dict(base_config, epochs=1)
    job = subprocess.run(
        [python, "-c", TINY_JOB, json.dumps(settings)],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    )
    facts = json.loads(job.stdout.strip().splitlines()[-1])
    assert facts["package"].startswith(fresh_site) and facts["properties"].startswith(fresh_site)
    assert os.path.isfile(os.path.join(facts["properties"], "overall.yaml"))
    assert 0.0 <= facts["llmemb"]["ndcg@10"] <= facts["llmemb"]["hit@10"] <= 1.0
    assert all(os.path.isfile(path) for path in facts["results"])
    script = subprocess.run(
        [str(env_dir / "bin" / "recbole-llmemb"), "--help"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "--model" in script.stdout and "LLMEmbSASRec" in script.stdout


def _package_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body (function-level imports too)."""

    def module_name(path: str) -> str:
        relative = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
        return relative[: -len(".__init__")] if relative.endswith(".__init__") else relative

    modules = {}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                modules[module_name(os.path.join(folder, file))] = os.path.join(folder, file)
    graph = {}
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in modules else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_the_package_has_no_import_cycle():
    graph = _package_imports()
    assert graph["recbole_llmemb.model.embedding_builder"] >= {"recbole_llmemb.llm.table_stage"}
    try:  # the standard library's topological sort names a cycle when there is one
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        pytest.fail(" -> ".join(error.args[1]))


def test_stages_do_not_reach_up_into_the_pipeline():
    """data/, llm/, evaluation/ and report/ depend on nothing above them (no quick_start, model, trainer)."""
    graph = _package_imports()
    upper = (
        "recbole_llmemb.quick_start",
        "recbole_llmemb.cli",
        "recbole_llmemb.model",
        "recbole_llmemb.trainer",
    )
    for module, targets in graph.items():
        if module.startswith(tuple(f"recbole_llmemb.{s}" for s in ("data", "llm", "evaluation", "report"))):
            assert not [t for t in targets if t.startswith(upper)], module
