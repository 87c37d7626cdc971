"""The package graph: no import cycle between ``loyaltylens`` packages, and the hidden truth kept out of
feature and training code. Read from the source with ``ast`` (what each module imports, wherever in the
file), so a lazy import inside a function counts too."""

import ast
from pathlib import Path

import networkx as nx
import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "loyaltylens"
TRUTH_MODULE = "loyaltylens.groundtruth"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute ``loyaltylens`` modules imported anywhere in ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("loyaltylens")}


@pytest.fixture(scope="module")
def module_graph() -> nx.DiGraph:
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in _imports(path):
            if target in modules:  # "from pkg import name" names a module only sometimes
                graph.add_edge(name, target)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])  # loyaltylens.<package> (or a top-level module)


def test_no_import_cycle_between_packages(module_graph: nx.DiGraph) -> None:
    packages = nx.DiGraph()
    for source, target in module_graph.edges:
        if _package(source) != _package(target):
            packages.add_edge(_package(source), _package(target))
    cycles = list(nx.simple_cycles(packages))
    assert not cycles, f"packages import each other in a circle: {cycles}"


def test_an_import_cycle_would_be_caught(module_graph: nx.DiGraph) -> None:
    planted = module_graph.copy()
    planted.add_edge("loyaltylens.vocabulary", "loyaltylens.features.store")  # the leaf importing a stage
    packages = {(_package(a), _package(b)) for a, b in planted.edges if _package(a) != _package(b)}
    assert list(nx.simple_cycles(nx.DiGraph(list(packages))))


@pytest.mark.parametrize(
    "module",
    [
        "loyaltylens.data.simulate",
        "loyaltylens.features.store",
        "loyaltylens.features.compute",
        "loyaltylens.features.pairs",
        "loyaltylens.features.pair_tables",
        "loyaltylens.propensity.train",
        "loyaltylens.propensity.frame",
        "loyaltylens.propensity.model",
        "loyaltylens.propensity.baseline",
        # Decision and policy code: the expected margin, the send decision, OPE and the chain.
        "loyaltylens.decision.margin",
        "loyaltylens.decision.policy",
        "loyaltylens.decision.ope",
        "loyaltylens.decision.campaign",
        "loyaltylens.decision.evaluation",
        "loyaltylens.decision.chain",
        "loyaltylens.decision.batch",
        # What the servers load: the scorers (in-process or KServe) and the offer API's service.
        "loyaltylens.decision.scorers",
        "loyaltylens.decision.offers",
    ],
)
def test_feature_and_training_code_cannot_reach_the_truth(module_graph: nx.DiGraph, module: str) -> None:
    reachable = nx.descendants(module_graph, module)
    assert TRUTH_MODULE not in reachable, f"{module} can import the hidden truth via {TRUTH_MODULE}"


def test_the_simulator_never_imports_feature_code(module_graph: nx.DiGraph) -> None:
    reachable = {m for data in module_graph if data.startswith("loyaltylens.data") for m in module_graph[data]}
    assert not {m for m in reachable if m.startswith("loyaltylens.features")}


def test_the_vocabulary_is_a_leaf(module_graph: nx.DiGraph) -> None:
    assert set(module_graph["loyaltylens.vocabulary"]) <= {"loyaltylens.errors"}


def _module_level_imports(path: Path) -> set[str]:
    """``loyaltylens`` modules ``path`` imports at module level: top-level statements and the bodies of
    top-level ``if``/``try``, ``if TYPE_CHECKING:`` included (a cycle kept alive only by that guard is still a
    cycle in the design); not function bodies, the lazy imports that keep heavy libraries off import time."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("loyaltylens")}


def _module_level_graph() -> nx.DiGraph:
    """Module -> module imported at module level; importing a submodule imports its packages first."""
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in _module_level_imports(path):
            while target not in modules and "." in target:  # "from pkg import name": name may not be a module
                target = target.rpartition(".")[0]
            parts = target.split(".")
            for depth in range(2, len(parts) + 1):  # loyaltylens.a.b imports loyaltylens.a first
                ancestor = ".".join(parts[:depth])
                if ancestor in modules and ancestor != name and not name.startswith(ancestor + "."):
                    graph.add_edge(name, ancestor)
    return graph


def _module_level_cycles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1]


def test_no_module_level_import_cycle() -> None:
    """A cycle of module-level imports works or breaks depending on which module is imported first."""
    cycles = _module_level_cycles(_module_level_graph())
    assert not cycles, f"modules import each other at module level: {cycles}"


def test_a_module_level_cycle_would_be_caught() -> None:
    planted = _module_level_graph()
    planted.add_edge("loyaltylens.errors", "loyaltylens.features.store")  # the store imports errors
    assert any("loyaltylens.errors" in cycle for cycle in _module_level_cycles(planted))


def _documented_imports() -> dict[str, set[str]]:
    """docs/ARCHITECTURE.md's package table: package -> the packages its "imports" column names."""
    import re

    text = (SRC.parent.parent / "docs" / "ARCHITECTURE.md").read_text()
    table = text.split("| package / module |", 1)[1].split("\n\n", 1)[0]
    documented = {}
    for row in table.splitlines()[2:]:
        package_cell, _, imports_cell = row.strip("|").split(" | ")
        if "everything" in imports_cell:
            continue
        names = set(re.findall(r"`(\w+)`", re.sub(r"\(never [^)]*\)", "", imports_cell))) - {"errors"}
        for package in re.findall(r"`(\w+)`", package_cell):
            documented[f"loyaltylens.{package}"] = names
    return documented


def test_the_architecture_import_table_matches_the_code(module_graph: nx.DiGraph) -> None:
    actual: dict[str, set[str]] = {}
    for source, target in module_graph.edges:
        if _package(source) != _package(target) and target != "loyaltylens":  # the root: __version__ and paths
            actual.setdefault(_package(source), set()).add(_package(target).removeprefix("loyaltylens."))
    documented = _documented_imports()
    assert documented, "the table was not found"
    wrong = {
        package: {"documented": sorted(names), "code": sorted(actual.get(package, set()) - {"errors"})}
        for package, names in documented.items()
        if names != actual.get(package, set()) - {"errors"}
    }
    assert not wrong, f"docs/ARCHITECTURE.md's import table differs from the code: {wrong}"
