"""docs/architecture.md run and checked as written: the new-backbone template and its test, the
import rule's table against every module's imports, and the two readers of ``sys.argv``."""

import ast
import os
import re
from graphlib import CycleError, TopologicalSorter

import pytest

from recbole_llmemb.model import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "recbole_llmemb")
DOC = os.path.join(ROOT, "docs", "architecture.md")
TABLE_HEADER = "| Folder or module | Imports from |"


def test_the_new_backbone_template_and_its_test_run(base_config, monkeypatch):
    text = open(DOC, encoding="utf-8").read()
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


def _unit(name: str) -> str:
    """``data/`` or ``config`` as the table writes it -> ``data`` or ``config``."""
    return name.strip().strip("`").rstrip("/")


def _rule() -> list[tuple[str, set[str]]]:
    """The table of "The import rule", top to bottom: (folder or module, what it may import)."""
    lines = open(DOC, encoding="utf-8").read().splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        name, imports = (cell.strip() for cell in line.strip("|").split("|"))
        allowed = set() if imports == "-" else {_unit(target) for target in imports.split(",")}
        rows.append((_unit(name), allowed))
    return rows


def _modules() -> dict[str, str]:
    """Dotted name inside the package (``data.loading``, ``cli``, ``__init__``) -> file."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                modules[os.path.relpath(path, PACKAGE)[: -len(".py")].replace(os.sep, ".")] = path
    return modules


def _unit_of(module: str) -> str:
    """The table's row of a module: its folder, or itself at the top level."""
    return module.split(".")[0]


def _imported_units(module: str, path: str, units: set[str]) -> set[str]:
    """The rows a module imports from, anywhere in its body (function-level imports too)."""
    parts = module.split(".")
    package = parts[:-1]  # the package that holds the module (an __init__'s is its own folder)
    found = set()

    def add(dotted: list[str], names: list[str]) -> None:
        if dotted:
            found.add(dotted[0])
            return
        for name in names:  # ``from . import compat`` or ``from .. import quick_start``
            found.add(name if name in units else "__init__")

    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = package[: len(package) - node.level + 1]
                add(base + (node.module.split(".") if node.module else []), names)
            elif node.module and (node.module + ".").startswith("recbole_llmemb."):
                add(node.module.split(".")[1:], names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("recbole_llmemb."):
                    add(alias.name.split(".")[1:2], [])
    return found - {_unit_of(module)}


def test_the_import_rule_is_the_packages_import_graph():
    rule = _rule()
    order = [name for name, _ in rule]
    allowed = dict(rule)
    modules = _modules()
    units = {_unit_of(module) for module in modules}
    assert len(order) == len(set(order)), "a row appears twice in the import rule's table"
    assert set(order) == units, (
        f"rows without code: {sorted(set(order) - units)}; code without a row: {sorted(units - set(order))}"
    )
    for position, (name, targets) in enumerate(rule):
        above = set(order[:position])
        assert targets <= above, f"{name}'s row names rows below it: {sorted(targets - above)}"
    graph: dict[str, set[str]] = {unit: set() for unit in units}
    for module, path in sorted(modules.items()):
        imported = _imported_units(module, path, units)
        unit = _unit_of(module)
        assert imported <= allowed[unit], (
            f"recbole_llmemb.{module} imports {sorted(imported - allowed[unit])},"
            f" which the row of {unit} in docs/architecture.md does not allow"
        )
        graph[unit] |= imported
    for unit in units:
        assert graph[unit] == allowed[unit], (
            f"the row of {unit} in docs/architecture.md lists {sorted(allowed[unit] - graph[unit])},"
            " which none of its modules imports"
        )


def test_there_is_no_import_cycle_between_folders():
    modules = _modules()
    units = {_unit_of(module) for module in modules}
    graph: dict[str, set[str]] = {unit: set() for unit in units}
    for module, path in modules.items():
        graph[_unit_of(module)] |= _imported_units(module, path, units)
    assert graph["trainer"] >= {"model", "evaluation"} and "trainer" in graph["utils"]
    try:  # the standard library's topological sort names a cycle when there is one
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        pytest.fail(" -> ".join(error.args[1]))


def test_only_the_two_command_lines_read_sys_argv():
    readers = set()
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Attribute) and node.attr == "argv":
                readers.add(module)
            elif isinstance(node, ast.ImportFrom) and node.module == "sys":
                if any(alias.name == "argv" for alias in node.names):
                    readers.add(module)
    assert readers == {"cli", "data.__main__"}
    text = open(DOC, encoding="utf-8").read()
    assert "`cli.py`" in text and "`data/__main__.py`" in text and "only modules that" in text
