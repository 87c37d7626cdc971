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
