"""Notebooks in git are the narrative: no outputs, one documented parameters cell, short cells.

What is checked is the notebook as git stores it (the index: what the next commit takes), not the working
file: running a notebook in JupyterLab saves outputs into the working file, and nbstripout, git's clean filter
for notebooks (.gitattributes, scripts/git-filters), keeps them out of the index.
"""

import importlib.util
import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPOSITORY, git_filters, missing

NOTEBOOKS = sorted((REPOSITORY / "notebooks").glob("*.ipynb"))


def stored_text(path) -> bytes:
    """The notebook at `path` as git's index holds it, its bytes; skips where there is no git or no repository
    (an installed wheel's tests, an unpacked source archive)."""
    if shutil.which("git") is None:
        missing("git is not installed: the notebooks as stored in git cannot be read")
    name = path.relative_to(REPOSITORY).as_posix()
    inside = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--is-inside-work-tree"],
                            capture_output=True, text=True)
    if inside.returncode != 0:
        missing(f"{REPOSITORY} is not a git work tree ({inside.stderr.strip() or inside.stdout.strip()}): the "
                "notebooks as stored in git cannot be read")
    stored = subprocess.run(["git", "-C", str(REPOSITORY), "show", f":{name}"], capture_output=True)
    assert stored.returncode == 0, f"{name} is not in git's index ({stored.stderr.decode().strip()}): git add {name}"
    return stored.stdout


def stored_notebook(path) -> dict:
    """The notebook at `path` as git's index holds it."""
    return json.loads(stored_text(path))


def carrying_outputs(notebook: dict) -> list[str]:
    """The code cells that carry outputs or an execution count, as 'cell N (first line)'."""
    found = []
    for number, cell in enumerate(notebook["cells"], 1):
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None):
            first = "".join(cell["source"]).strip().splitlines()[:1] or [""]
            found.append(f"cell {number} ({first[0][:60]!r})")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    notebook = stored_notebook(path)
    name = path.relative_to(REPOSITORY).as_posix()
    dirty = carrying_outputs(notebook)
    assert not dirty, (
        f"{name} is staged with outputs in {', '.join(dirty)}. Let git strip them: make git-filters (make lab and "
        f"make test do it too), then git add {name}; or strip the file itself: "
        f".venv/bin/nbstripout --keep-id {name}")
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    tagged = [cell for cell in code if "parameters" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{name} has {len(tagged)} cells tagged 'parameters'; papermill needs exactly one"
    assert all(len("".join(cell["source"]).splitlines()) <= 15 for cell in code), "cells read like sentences"


def test_a_notebook_with_outputs_is_named_with_its_cells():
    notebook = {"cells": [{"cell_type": "markdown", "source": ["# Title"]},
                          {"cell_type": "code", "source": ["x = 1\n", "x"], "outputs": [], "execution_count": None},
                          {"cell_type": "code", "source": ["print(x)"], "outputs": [{"output_type": "stream"}],
                           "execution_count": 3}]}
    assert carrying_outputs(notebook) == ["cell 3 ('print(x)')"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_as_the_clean_filter_writes_it(path):
    """Else git's clean filter (nbstripout, as scripts/git-filters sets it) rewrites it on every `git status`, and a
    fresh clone shows a notebook nobody touched as modified: for instance a cell's source edited by hand with two
    lines in one list item."""
    if importlib.util.find_spec("nbstripout") is None:
        missing("nbstripout is not installed (the lab extra): pip install -e '.[lab]'")
    stored = stored_text(path)
    cleaned = subprocess.run([sys.executable, "-m", "nbstripout", *git_filters().OPTIONS], input=stored,
                             capture_output=True)
    assert cleaned.returncode == 0, cleaned.stderr.decode()
    name = path.relative_to(REPOSITORY).as_posix()
    assert cleaned.stdout == stored, (f"{name} is not stored as nbstripout writes it; store it so: "
                                      f"git add {name} after `make git-filters`, or run nbstripout on it")
