"""The code's layout holds what the README's architecture picture draws: which package imports which, a read
side that loads nothing of the write side, adapters that are a leaf library, no import cycle, small modules."""

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
PACKAGES: Final = ("domain", "commands", "projections", "queries", "adapters", "composition", "web", "scripts")
MAX_MODULE_LINES: Final = 400
# What adapters may take from the write side: its ports and the records they carry, never an application.
WRITE_SIDE_PORTS: Final = {"commands.ports", "commands.errors", "commands.dispatch_index", "commands.deadlines"}
APPLICATIONS: Final = {"Orders", "Inventory", "Payments", "Shipping", "PaymentDeadlines", "ContextApplication",
                       "SagaStep"}


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "generated" not in path.parts:
                yield ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Every import of ours in the module, at any depth (a function's lazy import counts too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in PACKAGES:
            yield node.module, [alias.name for alias in node.names]


def module_graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in imports(path)} for name, path in modules()}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for source, targets in module_graph().items():
        for target in targets:
            if target.split(".")[0] != source.split(".")[0]:
                graph[source.split(".")[0]].add(target.split(".")[0])
    return graph


def drawn_arrows() -> dict[str, set[str]]:
    """The arrows listed under the README's picture: `web → composition, adapters, ...`."""
    section = (ROOT / "README.md").read_text().split("## Architecture", 1)[1].split("\n## ", 1)[0]
    arrows: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for source, targets in re.findall(r"^\s*-?\s*`?(\w+)/?`?\s+→\s+(.+)$", section, re.MULTILINE):
        if source in arrows:
            arrows[source] = {target.strip(" `/") for target in targets.split(",") if target.strip(" `/") != "nothing"}
    return arrows


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_every_arrow_drawn_in_the_readme_holds_in_the_code_and_none_is_missing() -> None:
    assert drawn_arrows() == package_graph()


def test_there_is_no_import_cycle_among_packages_or_modules() -> None:
    assert cycles(package_graph()) == []
    assert cycles(module_graph()) == []


def test_adapters_take_only_ports_from_the_write_side_and_never_the_composition_root() -> None:
    offending = []
    for name, path in modules():
        if name.startswith("adapters."):
            for target, names in imports(path):
                takes_application = target not in WRITE_SIDE_PORTS or bool(APPLICATIONS & set(names))
                if target.startswith("composition") or (target.startswith("commands.") and takes_application):
                    offending.append(f"{name} imports {target} {names}")
    assert offending == []


@pytest.mark.parametrize("app", ["web.query_api.app", "composition.read_side"])
def test_the_read_side_loads_nothing_of_the_write_side(app: str) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {app}; print(sorted(m for m in sys.modules if m.startswith('commands')))"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_every_module_is_small_and_says_its_job_in_a_docstring() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules()}
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    silent = [name for name, path in modules() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert too_long == {}
    assert silent == []
