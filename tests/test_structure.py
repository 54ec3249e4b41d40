"""The package's shape, as `make lint` checks it with import-linter (pyproject.toml's [tool.importlinter]).

Each contract is shown to break on a copy of digitlib with one import added where it must not be: a contract
that cannot fail would check nothing. The copy is found before the installed digitlib because lint-imports puts
its working folder first on the path.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPOSITORY

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    """digitlib's sources, pyproject.toml and our contract type, in a folder of their own."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPOSITORY / "digitlib", tree / "digitlib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPOSITORY / "pyproject.toml", tree)
    (tree / "tests").mkdir()
    shutil.copy(REPOSITORY / "tests" / "import_contracts.py", tree / "tests")
    return tree


def test_digitlib_keeps_every_contract(package_copy):
    result = lint_imports(package_copy)
    assert result.returncode == 0 and "3 kept, 0 broken" in result.stdout, result.stdout[-3000:] + result.stderr


LIGHT, WINGS, ACYCLIC = "The command line's process and the core", "Wings import downwards", "No import cycles"


@pytest.mark.parametrize("module, line, where, broken", [
    # a science package when the CLI's module loads
    ("run/index.py", "import numpy", "top", {LIGHT}),
    # the core importing a wing when it loads: the light contract, the layers, and a cycle (train imports layout)
    ("layout.py", "from .train import prepare", "top", {LIGHT, WINGS, ACYCLIC}),
    # inside a function the light contract lets it be, the layers never: report imports the CLI (and so the two
    # wings import each other)
    ("report/figures.py", "from ..run import cli", "function", {WINGS, ACYCLIC}),
    # two modules of one folder importing each other, one of them in a function
    ("run/pages.py", "from . import index", "function", {ACYCLIC}),
])
def test_each_contract_breaks_where_an_import_breaks_it(package_copy, tmp_path, module, line, where, broken):
    tree = tmp_path / "tree"
    shutil.copytree(package_copy, tree)
    path = tree / "digitlib" / module
    source = path.read_text(encoding="utf-8")
    added = f"{line}\n" if where == "top" else f"\n\ndef _added():\n    {line}  # noqa\n"
    path.write_text(added + source if where == "top" else source + added, encoding="utf-8")
    result = lint_imports(tree)
    summary = f"{3 - len(broken)} kept, {len(broken)} broken"
    assert result.returncode == 1 and summary in result.stdout, result.stdout[-3000:] + result.stderr
    listed = result.stdout.split("Broken contracts")[1]
    assert {name for name in (LIGHT, WINGS, ACYCLIC) if name in listed} == broken


def test_an_import_inside_a_function_is_not_one_the_module_makes_when_it_loads(tmp_path):
    from import_contracts import imports_inside_functions

    module = tmp_path / "sample_module.py"
    module.write_text("import os\n\n\ndef f():\n    import numpy\n    return numpy\n\n\nclass C:\n"
                      "    def m(self):\n        from json import (\n            dumps,\n        )\n", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        assert imports_inside_functions("sample_module") == {5, 11}
    finally:
        sys.path.remove(str(tmp_path))
