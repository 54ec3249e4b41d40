"""The package's shape, as `make lint` checks it with import-linter (pyproject.toml's [tool.importlinter]).

Each contract is shown to break on a copy of digitlib with one import added where it must not be: a contract
that cannot fail would check nothing. The copy is found before the installed digitlib because lint-imports puts
its working folder first on the path. And the names of a run's files and of the reports folder's are defined in
digitlib/layout.py alone, and imported from there.
"""

import ast
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
@pytest.mark.e2e  # import-linter over a copy of the package, four times: seconds
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


# Every name of a run's files and of the reports folder's is defined in digitlib/layout.py, and read from there.

def layout_names() -> tuple[set[str], dict[str, str]]:
    """What digitlib/layout.py defines (its constants and functions), and its file names: text constant -> name."""
    tree = ast.parse((REPOSITORY / "digitlib" / "layout.py").read_text(encoding="utf-8"))
    defined, files = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                defined.add(target.id)
                if target.id.isupper() and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    files[node.value.value] = target.id
    return defined, files


def _module_of(path: Path, root: Path, node: ast.ImportFrom) -> str:
    """The absolute name of the module `node` imports from, in `path` under `root` (digitlib's parent)."""
    if not node.level:
        return node.module or ""
    package = list(path.relative_to(root).with_suffix("").parts)[:-node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


def _texts_that_name_files(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """Each text constant a module assigns, takes as a default, joins to a path or formats, with how."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                unpacked = isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                found += [("assigns", value) for value in (node.value.elts if unpacked else [node.value])]
        elif isinstance(node, ast.arguments):
            found += [("defaults to", default) for default in [*node.defaults, *node.kw_defaults]]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found.append(("joins", node.right))
        elif isinstance(node, ast.JoinedStr):
            found += [("formats", part) for part in node.values]
    return [(how, node) for how, node in found if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def layout_problems(root: Path, folders: tuple[str, ...] = ("digitlib", "tests", "bench")) -> list[str]:
    """Where a module under `root` imports one of layout's names from elsewhere than digitlib.layout, or (in digitlib)
    names one of its files itself: a text constant assigned, a default, a path joined or an f-string's fixed part
    that is one of layout's file names, or a constant of its own under one of layout's names."""
    defined, files = layout_names()
    problems = []
    for path in sorted(file for folder in folders for file in (root / folder).rglob("*.py")):
        where = path.relative_to(root)
        if where == Path("digitlib", "layout.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = [(node.lineno, f"{alias.name} imported from {_module_of(path, root, node)}: import it from "
                  "digitlib.layout") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and _module_of(path, root, node) != "digitlib.layout" for alias in node.names if alias.name in defined]
        if where.parts[0] == "digitlib":  # tests may name the files as they are on disk
            found += [(node.lineno, f"defines {target.id}, which layout defines") for node in tree.body
                      if isinstance(node, (ast.Assign, ast.AnnAssign))
                      for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                      for target in (target.elts if isinstance(target, ast.Tuple) else [target])
                      if isinstance(target, ast.Name) and target.id in defined]
            found += [(node.lineno, f"{how} {node.value!r}: use layout.{files[node.value]}")
                      for how, node in _texts_that_name_files(tree) if node.value in files]
        problems += [f"{where}:{line}: {problem}" for line, problem in sorted(found)]
    return problems


def test_the_names_of_runs_files_are_defined_in_layout_and_imported_from_there():
    assert layout_problems(REPOSITORY) == []


def test_a_file_name_named_outside_layout_is_found(tmp_path):
    defined, files = layout_names()
    assert {"RUN_FILE", "KERNEL_LOG", "CHECKPOINT_STATE", "MEMBER_FILE", "SWEEP_FILE", "COMPARISON_LINK",
            "CLUSTER_TOKEN_PREFIX", "IMAGE_PREDICTIONS_FILE"} <= set(files.values()) and "kept_for" in defined
    (tmp_path / "digitlib" / "run").mkdir(parents=True)
    (tmp_path / "digitlib" / "layout.py").write_text('RUN_FILE = "run.json"\n', encoding="utf-8")
    (tmp_path / "digitlib" / "run" / "module.py").write_text(
        "from ..layout import RUN_FILE\n"  # the one place to import it from
        "from .tracking import MODEL_FILE\n"
        'LOG, OTHER = "kernel.log", "other.txt"\n'
        'RUN_FILE = "x"\n'
        'def f(name="checkpoint.json"):\n'
        '    return folder / "sweep.json", f".cluster-{name}"\n', encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        'from digitlib.run.runner import KERNEL_LOG\nfrom digitlib.layout import BEST\nrun = "run.json"\n',
        encoding="utf-8")
    assert [problem.split(": ", 1)[1] for problem in layout_problems(tmp_path, ("digitlib", "tests"))] == [
        "MODEL_FILE imported from digitlib.run.tracking: import it from digitlib.layout",
        "assigns 'kernel.log': use layout.KERNEL_LOG",
        "defines RUN_FILE, which layout defines",
        "defaults to 'checkpoint.json': use layout.CHECKPOINT_STATE",
        "formats '.cluster-': use layout.CLUSTER_TOKEN_PREFIX",
        "joins 'sweep.json': use layout.SWEEP_FILE",
        "KERNEL_LOG imported from digitlib.run.runner: import it from digitlib.layout",
    ]
