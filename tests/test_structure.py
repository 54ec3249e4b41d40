"""The package's shape: no import cycles between digitlib's modules (lazy imports inside functions count)."""

import ast
from pathlib import Path

import digitlib

PACKAGE = Path(digitlib.__file__).parent


def import_graph() -> dict[str, set[str]]:
    """digitlib module -> the digitlib modules it imports, anywhere in its source."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name in modules:
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [alias.name for alias in node.names]
                graph[name] |= {target.split(".")[0] for target in targets if target.split(".")[0] in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digitlib."):
                graph[name].add(node.module.split(".")[1])
    graph.pop("__init__")  # the package's front door (lazy: it names every module), and nothing imports it back
    return {name: targets - {"__init__", name} for name, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"training": {"ensemble"}, "ensemble": {"training", "models"}, "models": set()}) == [
        ["ensemble", "training"]]


def test_digitlib_has_no_import_cycles():
    assert cycles(import_graph()) == []
