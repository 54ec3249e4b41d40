"""JupyterLab as a way in: `make lab` starts as root too and takes jupyter's options, and git keeps the outputs
a JupyterLab session saves into notebooks/ out of its status and commits (nbstripout as its clean filter).

Everything runs in a temporary clone of this repository, with this work tree's Makefile, .gitattributes and
scripts/git-filters laid over it: the real work tree and its git config are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPOSITORY

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (REPOSITORY / ".git").exists(),
                                reason="needs git and this repository's git history")

GIT_FILTERS = REPOSITORY / "scripts" / "git-filters"
LAID_OVER = ("Makefile", ".gitattributes", "scripts/git-filters")  # what these tests check, as in the work tree
BIN = Path(sys.executable).parent  # this Python's environment has jupyter and nbstripout (the lab extra)


def git(clone: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(clone), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                           *arguments], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path) -> Path:
    """A clone of this repository's HEAD with the work tree's versions of LAID_OVER committed on top."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(REPOSITORY), str(clone)], check=True)
    for name in LAID_OVER:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / name, clone / name)
    git(clone, "add", "--", *LAID_OVER)
    if git(clone, "status", "--porcelain"):
        git(clone, "commit", "--quiet", "-m", "the work tree's lab files")
    return clone


def configure_filters(clone: Path) -> subprocess.CompletedProcess:
    """What make lab and make test run first."""
    return subprocess.run([sys.executable, str(GIT_FILTERS), str(clone)], capture_output=True, text=True,
                          check=True)


def run_in_jupyterlab(path: Path) -> None:
    """Rewrite the notebook at `path` as JupyterLab saves it after a run: outputs and execution counts, indent 1."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for count, cell in enumerate((c for c in notebook["cells"] if c["cell_type"] == "code"), 1):
        cell["execution_count"] = count
        cell["outputs"] = [{"output_type": "stream", "name": "stderr", "text": ["epoch 1/12  loss 0.2\n"]},
                           {"output_type": "execute_result", "execution_count": count, "metadata": {},
                            "data": {"text/plain": [f"{count}"]}}]
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def test_make_lab_passes_allow_root_only_to_root_and_takes_lab_args():
    shown = subprocess.run(["make", "-n", "lab", "LAB_STAMP=", f"BIN={BIN}", "LAB_ARGS=--port=8899 --no-browser"],
                           cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout
    jupyter = [line for line in shown.splitlines() if "jupyter lab" in line]
    assert len(jupyter) == 1 and jupyter[0].endswith("--port=8899 --no-browser notebooks/"), shown
    assert ("--allow-root" in jupyter[0]) == (os.geteuid() == 0), shown
    assert f"{BIN}/python scripts/git-filters" in shown  # the filter is configured before JupyterLab starts


def test_make_test_configures_the_git_filter_before_pytest():
    shown = subprocess.run(["make", "-n", "test", "TEST_STAMP=", f"BIN={BIN}"], cwd=REPOSITORY,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert shown.index(f"{BIN}/python scripts/git-filters") < next(
        number for number, line in enumerate(shown) if "-m pytest" in line)


def test_git_filters_is_idempotent_and_names_nbstripout_with_this_python(clone):
    configure_filters(clone)
    first = git(clone, "config", "--local", "--list")
    configure_filters(clone)
    assert git(clone, "config", "--local", "--list") == first
    clean = git(clone, "config", "--local", "--get-all", "filter.nbstripout.clean").splitlines()
    assert clean == [f"{sys.executable} -m nbstripout --keep-id --unix-newlines"]
    assert git(clone, "config", "--local", "diff.ipynb.textconv").strip().endswith("--textconv")
    assert git(clone, "check-attr", "filter", "diff", "--", "notebooks/mnist_cnn.ipynb").splitlines() == [
        "notebooks/mnist_cnn.ipynb: filter: nbstripout", "notebooks/mnist_cnn.ipynb: diff: ipynb"]


def test_git_filters_does_nothing_outside_a_repository(tmp_path):
    done = subprocess.run([sys.executable, str(GIT_FILTERS), str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert done.returncode == 0 and done.stdout.startswith("Note: no git filter for notebooks here"), done


@pytest.mark.e2e  # runs nbstripout through git: seconds per notebook
def test_committed_notebooks_pass_the_filter_unchanged(clone):
    configure_filters(clone)
    for path in (clone / "notebooks").glob("*.ipynb"):
        path.write_bytes(path.read_bytes())  # a new mtime: git runs the filter to compare
    assert git(clone, "status", "--porcelain") == ""


@pytest.mark.e2e  # runs nbstripout through git: seconds per notebook
def test_outputs_saved_by_jupyterlab_stay_out_of_git(clone):
    configure_filters(clone)
    notebook = clone / "notebooks" / "mnist_cnn.ipynb"
    committed = git(clone, "show", "HEAD:notebooks/mnist_cnn.ipynb")
    run_in_jupyterlab(notebook)
    assert '"outputs": []' not in notebook.read_text(encoding="utf-8")  # the user keeps the outputs on disk
    # git diff compares the stripped notebook: nothing changed. (git status may still list the file, as it does
    # for any file whose size changed, until git add records its new size; git add stages nothing new.)
    assert subprocess.run(["git", "-C", str(clone), "diff", "--exit-code", "--quiet"]).returncode == 0
    git(clone, "add", "--all")
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "show", ":notebooks/mnist_cnn.ipynb") == committed


def test_without_the_filter_outputs_would_show(clone):
    """The check above is not vacuous: unconfigured, git sees the outputs."""
    run_in_jupyterlab(clone / "notebooks" / "mnist_cnn.ipynb")
    assert git(clone, "status", "--porcelain").strip() == "M notebooks/mnist_cnn.ipynb"
    assert subprocess.run(["git", "-C", str(clone), "diff", "--quiet"]).returncode == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.e2e
def test_make_lab_starts_headless_on_a_free_port_as_this_user(clone, tmp_path):
    port, token = free_port(), "digitlib-test"
    arguments = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                   "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "lab.log").open("w+")
    lab = subprocess.Popen(["make", "lab", "LAB_STAMP=", f"BIN={BIN}", f"LAB_ARGS={arguments}"], cwd=clone,
                           stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                         headers={"Authorization": f"token {token}"})
        deadline, status = time.monotonic() + 120, None
        while status is None and time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    status = json.load(answer)
            except OSError:
                time.sleep(1)
        log.seek(0)
        output = log.read()
        assert status is not None, f"JupyterLab did not answer on port {port}:\n{output}"
        assert "Running as root is not recommended" not in output
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/api/contents", headers={"Authorization": f"token {token}"})) as answer:
            listed = {item["name"] for item in json.load(answer)["content"]}
        assert "mnist_cnn.ipynb" in listed  # it serves notebooks/
        assert git(clone, "config", "--local", "filter.nbstripout.clean")  # make lab configured the filter
    finally:
        stop_group(lab)
        log.close()


def stop_group(process: subprocess.Popen, seconds: float = 30) -> None:
    """SIGTERM to `process`'s own session (make and the jupyter server it started), until all of it is gone;
    SIGKILL after `seconds`."""
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()  # reaps make; jupyter, once make is gone, is reaped by init
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
