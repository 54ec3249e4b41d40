"""The import-linter contract type of our own that `make lint` uses (pyproject.toml's [tool.importlinter]).

import-linter (through grimp) sees every import statement of a module, those inside its functions too. That is
what the layers contract wants: a function of the report wing may not import the command line either. The light
contract asks something else: what a module imports *when it loads*. An import inside a function runs when the
function is called (``digitlib predict`` imports Keras once it has a model to read), so
:class:`ForbiddenAtImportContract` drops those before it checks as a forbidden contract does.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

from importlinter.contracts.forbidden import ForbiddenContract


@cache
def imports_inside_functions(module: str) -> frozenset[int]:
    """The line numbers of `module`'s import statements that sit inside a function or method."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    return frozenset(statement.lineno for function in functions for statement in ast.walk(function)
                     if isinstance(statement, ast.Import | ast.ImportFrom))


class ForbiddenAtImportContract(ForbiddenContract):
    """A forbidden contract over the imports modules make when they load: every import of one module by another
    that happens only inside functions is left out. (Imports under ``if TYPE_CHECKING:`` are left out by the
    session's ``exclude_type_checking_imports``.)"""

    type_name = "forbidden_at_import"

    def check(self, graph, verbose):
        for importer in sorted(graph.modules):
            if graph.is_module_squashed(importer):  # an external package: grimp reads no source of it
                continue
            inside_functions = imports_inside_functions(importer)
            if not inside_functions:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                lines = {detail["line_number"] for detail in graph.get_import_details(importer=importer,
                                                                                        imported=imported)}
                if lines and lines <= inside_functions:
                    graph.remove_import(importer=importer, imported=imported)
        return super().check(graph, verbose)
