"""The command line stays light: help, usage errors and a run's checks import none of the scientific stack.

NumPy, TensorFlow, Keras, pandas, scikit-learn, matplotlib and Pillow take seconds to import; the notebook's kernel
imports them when it trains. These tests look at what a fresh interpreter has imported, never at the clock.
"""

import importlib
import json
import re
import subprocess
import sys
import tomllib

import pytest

import digitlib
from conftest import REPOSITORY

# The packages make lint's light contract forbids the command line's modules to import when they load (pyproject.toml),
# and torch, which a GPU machine may have: here they are checked at run time, along the commands' own paths.
LIGHT = next(contract for contract in tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
             ["tool"]["importlinter"]["contracts"] if contract["id"] == "light")
HEAVY = {name for name in LIGHT["forbidden_modules"] if "." not in name} | {"torch"}


def heavy_modules_after(code: str) -> tuple[list[str], str]:
    """Run `code` in a fresh interpreter; the heavy packages it imported, and what it printed."""
    report = ("import json, sys\n"
              f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True,
                            timeout=120, cwd=REPOSITORY)
    assert result.returncode == 0, result.stderr[-2000:]
    *printed, imported = result.stdout.strip().splitlines()
    return json.loads(imported), "\n".join([*printed, result.stderr])


def test_importing_the_cli_imports_nothing_heavy():
    assert heavy_modules_after("import digitlib.run.cli as cli") == ([], "")


def test_importing_the_package_imports_nothing_heavy():
    assert heavy_modules_after("import digitlib; digitlib.validate_parameters, digitlib.model_names")[0] == []


@pytest.mark.parametrize("arguments, status, output", [
    (["--help"], 0, "{report,sweep,predict,compare}"),
    (["compare", "nope", "."], 2, "digitlib: error: no run 'nope' in reports"),  # runs checked, no science
    (["report", "--help"], 0, "parameters (name, default, meaning)"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["report", "-p", "epochs", "0"], 2, "digitlib: error: parameter 'epochs'=0 must be at least 1"),
    (["report", "-p", "batch_size", "100000000"], 2, "is available; lower batch_size"),  # the memory check
    (["report", "-p", "model", "ensemble", "-p", "batch_size", "100000000"], 2, "is available; lower batch_size"),
])
def test_help_and_refused_reports_import_nothing_heavy(arguments, status, output):
    code = ("import digitlib.run.cli as cli\n"
            "try:\n"
            f"    status = cli.main({arguments!r})\n"
            "except SystemExit as exit:\n"
            "    status = exit.code\n"
            "print('exit status', status)")
    imported, printed = heavy_modules_after(code)
    assert imported == [] and f"exit status {status}" in printed and output in printed, printed[-2000:]


def test_sizing_every_model_imports_no_keras():
    code = ("from digitlib.models import model_names\n"
            "from digitlib.params import validate_parameters\n"
            "from digitlib.run.resources import check_memory\n"
            "for name in model_names():\n"
            "    check_memory(validate_parameters(model=name), available=2**40)")
    assert heavy_modules_after(code)[0] == []


def test_every_public_name_resolves_to_its_submodule():
    for name in digitlib.__all__:
        value = getattr(digitlib, name)
        assert value is getattr(sys.modules[f"digitlib.{digitlib._MODULE_OF[name]}"], name)
    assert set(digitlib.__all__) <= set(dir(digitlib))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        digitlib.no_such_name  # noqa: B018 - the look-up is the test


def test_every_name_the_notebooks_use_exists():
    """Names as digitlib.NAME (the front door) and the modules a notebook imports by their path."""
    names, modules = set(), set()
    for notebook in (REPOSITORY / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(cell["source"]) for cell in cells)
        modules |= set(re.findall(r"^\s*(?:import|from) (digitlib(?:\.\w+)+)", source, flags=re.M))
        names |= set(re.findall(r"\bdigitlib\.(\w+)\b(?!\.)", source)) - {module.split(".")[1] for module in modules}
    assert {"load_mnist", "train_network"} <= names and "digitlib.report.comparison" in modules  # the search works
    assert [name for name in sorted(names) if not hasattr(digitlib, name)] == []
    for module in modules:
        importlib.import_module(module)


def test_predict_with_no_finished_model_imports_nothing_heavy():
    """Choosing the default model reads run.json and metrics.json only; Keras waits for a model to load."""
    code = ("import digitlib.run.cli as cli\n"
            "print('exit status', cli.main(['predict', 'x.png', '--reports-dir', '/nonexistent/reports']))")
    imported, printed = heavy_modules_after(code)
    assert imported == [] and "exit status 2" in printed, printed[-2000:]
    assert "digitlib: error: no finished training run in /nonexistent/reports; run `make report`" in printed


def test_a_runs_identity_imports_nothing_heavy():
    """What a sweep computes for every run it may skip: the parameters, backend, model version and MNIST's
    checksums (digitlib.layout.IDX_FILES), none of which needs NumPy."""
    code = ("from digitlib.rundir import run_identity\n"
            "print(run_identity({'model': 'fast'}, backend='jax'))")
    imported, printed = heavy_modules_after(code)
    assert imported == [] and re.fullmatch(r"[0-9a-f]{64}", printed.strip()), printed


def test_jsonschema_is_imported_without_the_grammar_that_takes_seconds_and_only_for_that_import():
    code = ("import sys, time\n"
            "from digitlib.rundir import load_jsonschema\n"
            "jsonschema = load_jsonschema()\n"
            "jsonschema.validate({'a': 1}, {'type': 'object'})\n"
            "print('loaded' if sys.modules.get('rfc3987_syntax') is not None else 'not loaded')\n"
            "print('left blocked' if 'rfc3987_syntax' in sys.modules else 'unblocked')")
    imported, printed = heavy_modules_after(code)
    assert imported == [] and printed.splitlines() == ["not loaded", "unblocked"], printed  # importable again


def test_rendering_a_report_loads_jsonschema_without_the_grammar(tmp_path):
    """nbformat imports jsonschema when a report is rendered (and papermill's, when it runs): through
    load_jsonschema, so the grammar's seconds are not spent there either."""
    import importlib.util

    import nbformat

    assert importlib.util.find_spec("rfc3987_syntax"), "the lab extra installs rfc3987-syntax; without it: no check"
    notebook = tmp_path / "notebook.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A report")]), notebook)
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from digitlib.run.runner import render_html\n"
            f"render_html(Path({str(notebook)!r}), Path({str(tmp_path / 'report.html')!r}))\n"
            "print('loaded' if sys.modules.get('rfc3987_syntax') else 'not loaded')")
    _, printed = heavy_modules_after(code)
    assert printed.splitlines()[0] == "not loaded", printed
    assert "A report" in (tmp_path / "report.html").read_text(encoding="utf-8")
