"""JupyterLab as a way in: `make lab` starts as root too and takes jupyter's options; its pre-save hook
(scripts/jupyter/jupyter_server_config.py) saves the notebooks git tracks without outputs, stripped as git's
nbstripout filter strips them, and the user's own notebooks as they are; that filter keeps outputs saved by other
editors out of git's commits.

Everything runs in a temporary clone of this repository, with this work tree's Makefile, .gitattributes and
scripts/git-filters laid over it: the real work tree and its git config are never touched.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import GIT_FILTERS, REPOSITORY, git_filters, missing

if shutil.which("git") is None or not (REPOSITORY / ".git").exists():
    missing("git and this repository's git history (a clone, not an archive) are needed to test make lab")

LAB_CONFIG = REPOSITORY / "scripts" / "jupyter" / "jupyter_server_config.py"
# What these tests check, as in the work tree.
LAID_OVER = ("Makefile", ".gitattributes", "scripts/git-filters", "scripts/jupyter/jupyter_server_config.py")
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


# What JupyterLab's metadata holds once an ipykernel ran the notebook (the committed notebooks: the name alone).
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3", "version": "3.11.7"}


def with_outputs(notebook: dict) -> dict:
    """`notebook` as JupyterLab holds it after a run: outputs (text, a figure, an error), execution counts, the
    kernel's language_info, and cell metadata a session adds."""
    notebook["metadata"]["language_info"] = dict(LANGUAGE_INFO)
    for count, cell in enumerate((c for c in notebook["cells"] if c["cell_type"] == "code"), 1):
        cell["execution_count"] = count
        cell["outputs"] = [{"output_type": "stream", "name": "stderr", "text": ["epoch 1/12  loss 0.2\n"]},
                           {"output_type": "display_data", "metadata": {},
                            "data": {"image/png": "iVBORw0KGgo=\n", "text/plain": ["<Figure size 640x480>"]}},
                           {"output_type": "execute_result", "execution_count": count, "metadata": {},
                            "data": {"text/plain": [f"{count}"]}}]
    notebook["cells"][-1]["outputs"].append({"output_type": "error", "ename": "ValueError", "evalue": "no",
                                             "traceback": ["Traceback (most recent call last)"]})
    for cell in notebook["cells"]:
        cell["metadata"].update(scrolled=True, execution={"iopub.status.idle": "2026-11-26T08:00:00.000Z"})
    return notebook


def save_with_outputs(path: Path) -> None:
    """Rewrite the notebook at `path` as an editor without our pre-save hook saves it after a run (JupyterLab
    started otherwise than by make lab, another editor): outputs and execution counts, indent 1."""
    notebook = with_outputs(json.loads(path.read_text(encoding="utf-8")))
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def test_make_lab_passes_allow_root_only_to_root_and_takes_lab_args():
    shown = subprocess.run(["make", "-n", "lab", "LAB_STAMP=", f"BIN={BIN}", "LAB_ARGS=--port=8899 --no-browser"],
                           cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout
    jupyter = [line for line in shown.splitlines() if "jupyter lab" in line]
    assert len(jupyter) == 1 and jupyter[0].endswith("--port=8899 --no-browser notebooks/"), shown
    assert ("--allow-root" in jupyter[0]) == (os.geteuid() == 0), shown
    assert f"JUPYTER_CONFIG_PATH='{LAB_CONFIG.parent}' " in jupyter[0], shown  # the pre-save hook's settings
    assert f"{BIN}/python scripts/git-filters" in shown  # the filter is configured before JupyterLab starts


def test_make_lab_puts_its_settings_before_the_users_jupyter_config_path():
    shown = subprocess.run(["make", "-n", "lab", "LAB_STAMP=", f"BIN={BIN}", "JUPYTER_CONFIG_PATH=/etc/mine"],
                           cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout
    assert f"JUPYTER_CONFIG_PATH='{LAB_CONFIG.parent}:/etc/mine' " in shown, shown


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
    assert clean == [shlex.join([sys.executable, "-m", "nbstripout", *git_filters().OPTIONS])]
    assert {"--keep-id", "--unix-newlines"} <= set(git_filters().OPTIONS)
    assert git(clone, "config", "--local", "diff.ipynb.textconv").strip().endswith("--textconv")
    assert git(clone, "check-attr", "filter", "diff", "--", "notebooks/mnist_cnn.ipynb").splitlines() == [
        "notebooks/mnist_cnn.ipynb: filter: nbstripout", "notebooks/mnist_cnn.ipynb: diff: ipynb"]


def test_git_filters_does_nothing_outside_a_repository(tmp_path):
    done = subprocess.run([sys.executable, str(GIT_FILTERS), str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert done.returncode == 0 and done.stdout.startswith("Note: no git filter for notebooks here"), done


@pytest.mark.e2e  # runs nbstripout through git: seconds per notebook
@pytest.mark.full  # make test: the committed notebooks carry no outputs (test_notebooks)
def test_committed_notebooks_pass_the_filter_unchanged(clone):
    configure_filters(clone)
    for path in (clone / "notebooks").glob("*.ipynb"):
        path.write_bytes(path.read_bytes())  # a new mtime: git runs the filter to compare
    assert git(clone, "status", "--porcelain") == ""


@pytest.mark.e2e  # runs nbstripout through git: seconds per notebook
@pytest.mark.full  # make test: a notebook saved in make lab's JupyterLab leaves git status clean (test_lab_browser)
def test_outputs_saved_into_a_notebook_stay_out_of_git(clone):
    configure_filters(clone)
    notebook = clone / "notebooks" / "mnist_cnn.ipynb"
    committed = git(clone, "show", "HEAD:notebooks/mnist_cnn.ipynb")
    save_with_outputs(notebook)
    assert '"outputs": []' not in notebook.read_text(encoding="utf-8")  # the user keeps the outputs on disk
    # git diff compares the stripped notebook: nothing changed. (git status may still list the file, as it does
    # for any file whose size changed, until git add records its new size; git add stages nothing new.)
    assert subprocess.run(["git", "-C", str(clone), "diff", "--exit-code", "--quiet"]).returncode == 0
    git(clone, "add", "--all")
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "show", ":notebooks/mnist_cnn.ipynb") == committed


def test_without_the_filter_outputs_would_show(clone):
    """The check above is not vacuous: unconfigured, git sees the outputs."""
    save_with_outputs(clone / "notebooks" / "mnist_cnn.ipynb")
    assert git(clone, "status", "--porcelain").strip() == "M notebooks/mnist_cnn.ipynb"
    assert subprocess.run(["git", "-C", str(clone), "diff", "--quiet"]).returncode == 1


def saved_by_the_hook(notebook: dict, clone: Path, path: str, hook: bool = True) -> bytes:
    """The bytes JupyterLab's contents manager, with make lab's settings from `clone` (`hook`) or none, writes when
    the browser saves `notebook` as `path` (in clone/notebooks, the folder make lab serves)."""
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = clone / LAB_CONFIG.relative_to(REPOSITORY)
    settings = PyFileConfigLoader(config.name, path=str(config.parent)).load_config() if hook else Config()
    manager = FileContentsManager(root_dir=str(clone / "notebooks"), config=settings)
    assert (manager.pre_save_hook is not None) == hook
    manager.save({"type": "notebook", "format": "json", "content": notebook}, path)
    return (clone / "notebooks" / path).read_bytes()


def ran_with_widgets(name: str = "mnist_cnn.ipynb") -> dict:
    """The committed notebook `name` as JupyterLab holds it after a run that showed a widget (a progress bar)."""
    ran = with_outputs(json.loads(subprocess.run(["git", "-C", str(REPOSITORY), "show", f"HEAD:notebooks/{name}"],
                                                 check=True, capture_output=True).stdout))
    ran["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {}}}}
    return ran


@pytest.mark.parametrize("name", sorted(p.name for p in (REPOSITORY / "notebooks").glob("*.ipynb")))
def test_the_pre_save_hook_writes_a_run_notebook_as_committed(name, clone):
    """make lab's JupyterLab saves a notebook it ran without outputs: the committed bytes, for git status to see."""
    committed = (clone / "notebooks" / name).read_bytes()
    ran = ran_with_widgets(name)
    assert saved_by_the_hook(ran, clone, name) == committed
    assert b'"output_type"' in saved_by_the_hook(ran, clone, name, hook=False)  # without it: outputs on disk


def test_the_pre_save_hook_keeps_what_users_save_in_notebooks_git_does_not_track(clone):
    """A notebook of the user's own (new, in a subfolder, a copy of a committed one) is saved as JupyterLab sends
    it: its outputs, execution counts and widget state are the user's work, and nothing else holds them."""
    ran = ran_with_widgets()
    (clone / "notebooks" / "drafts").mkdir()
    for path in ("mine.ipynb", "drafts/mine.ipynb", "mnist_cnn-Copy1.ipynb", "samples/mnist_cnn.ipynb"):
        saved = saved_by_the_hook(ran, clone, path)
        assert saved == saved_by_the_hook(ran, clone, path, hook=False), path
        assert json.loads(saved) == ran, path


def test_the_pre_save_hook_strips_nothing_outside_a_git_checkout(tmp_path, monkeypatch, caplog):
    """An unpacked copy of the project (no .git): nothing says which notebooks are the project's, so none is
    stripped, and the server's log says why, git's reason escaped."""
    project = tmp_path / "project\x1b[2J"
    for name in ("scripts/git-filters", "scripts/jupyter/jupyter_server_config.py", "digitlib/untrusted.py",
                 "notebooks/mnist_cnn.ipynb"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / name, project / name)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    ran = ran_with_widgets()
    assert json.loads(saved_by_the_hook(ran, project, "mnist_cnn.ipynb")) == ran
    (said,) = [record.getMessage() for record in caplog.records if "git cannot say" in record.getMessage()]
    assert "not a git repository" in said and "project\\x1b[2J" in said and "\x1b" not in said, said


def test_the_pre_save_hook_strips_nothing_without_git(clone, tmp_path, monkeypatch, caplog):
    """git not on PATH: which notebooks git tracks is unknown, so none is stripped, and the server's log says why."""
    ran = ran_with_widgets()
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert json.loads(saved_by_the_hook(ran, clone, "mnist_cnn.ipynb")) == ran
    (said,) = [record.getMessage() for record in caplog.records if "git cannot say" in record.getMessage()]
    assert said.startswith("Saving every notebook with its outputs: git cannot say") and "'git'" in said, said


@pytest.mark.e2e  # runs nbstripout's command line: seconds
def test_the_pre_save_hook_strips_what_the_git_filter_strips(clone, tmp_path):
    """One list of options, two callers: the hook's call of nbstripout's API and git's filter command agree, on a
    notebook carrying every key nbstripout strips by default (the list git-filters repeats) and keys it keeps."""
    filters = git_filters()
    notebook = with_outputs(json.loads((REPOSITORY / "notebooks" / "mnist_cnn.ipynb").read_text(encoding="utf-8")))
    for key in filters.EXTRA_KEYS:
        namespace, name = key.split(".", 1)
        for metadata in ([notebook["metadata"]] if namespace == "metadata" else
                         [cell["metadata"] for cell in notebook["cells"]]):
            metadata[name.removeprefix("metadata.")] = {"set by": "a session"}
    notebook["metadata"]["jupytext"] = {"kept": True}
    notebook["cells"][1]["metadata"]["editable"] = False
    text = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    command = shlex.split(filters.settings(sys.executable)["filter.nbstripout.clean"])
    by_git = subprocess.run(command, input=text.encode(), capture_output=True, check=True, cwd=tmp_path,
                            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}).stdout
    by_hook = saved_by_the_hook(json.loads(text), clone, "mnist_cnn.ipynb")
    assert by_hook == by_git
    assert b'"set by"' not in by_hook and b'"jupytext"' in by_hook and b'"editable": false' in by_hook


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    """A `make lab` running headless on 127.0.0.1 in a clone: its port, token, log, and how long it took to answer."""

    process: subprocess.Popen
    port: int
    token: str
    runtime: Path  # JUPYTER_RUNTIME_DIR: its kernels' connection files, named on their command lines
    log: Path
    startup_seconds: float | None = None
    outlived: list[int] = field(default_factory=list)  # kernels still running once JupyterLab had stopped
    stopped: bool = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path: str, timeout: float = 10):
        request = urllib.request.Request(self.url(path), headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)

    def send(self, method: str, path: str, model: dict, timeout: float = 10) -> dict:
        """`model` as JSON to the REST API (PUT a notebook, POST a copy), as JupyterLab's page sends it."""
        request = urllib.request.Request(self.url(path), method=method, data=json.dumps(model).encode(),
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kernels(self) -> list[int]:
        """The ids of this JupyterLab's kernel processes (jupyter_client starts each in a session of its own)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            except OSError:
                continue
            if b"ipykernel" in command and str(self.runtime).encode() in command:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """SIGTERM to make and JupyterLab (which shuts its kernels down), then SIGKILL to any kernel left over."""
        if self.stopped:
            return
        self.stopped = True
        stop_group(self.process)
        deadline = time.monotonic() + 10
        while self.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        self.outlived = self.kernels()
        for pid in self.outlived:
            os.kill(pid, signal.SIGKILL)


@contextmanager
def running_lab(clone: Path, tmp_path: Path, environment: dict[str, str] | None = None,
                timeout: float = 180) -> Iterator[Lab]:
    """`make lab` headless on a free port with a known token, in `clone`, as a user (or root) runs it; its settings
    and runtime files under `tmp_path`. Yields once JupyterLab answers; stops it, and its kernels, afterwards."""
    port, token = free_port(), "digitlib-test"
    arguments = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    config, runtime = tmp_path / "jupyter-config", tmp_path / "jupyter-runtime"
    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(runtime),
                   **(environment or {})}
    log = tmp_path / "lab.log"
    with log.open("w") as output:
        started = time.monotonic()
        process = subprocess.Popen(["make", "lab", "LAB_STAMP=", f"BIN={BIN}", f"LAB_ARGS={arguments}"], cwd=clone,
                                   stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    lab = Lab(process, port, token, runtime, log)
    try:
        deadline = time.monotonic() + timeout
        while lab.startup_seconds is None and time.monotonic() < deadline and process.poll() is None:
            try:
                lab.api("/api/status", timeout=5)
                lab.startup_seconds = time.monotonic() - started
            except OSError:
                time.sleep(0.25)
        assert lab.startup_seconds is not None, f"JupyterLab did not answer on port {port}:\n{lab.output()}"
        yield lab
    finally:
        lab.stop()


@pytest.mark.e2e
@pytest.mark.full  # make test drives the same `make lab` in Chromium (test_lab_browser)
def test_make_lab_starts_headless_on_a_free_port_as_this_user(clone, tmp_path):
    with running_lab(clone, tmp_path) as lab:
        assert "Running as root is not recommended" not in lab.output()
        listed = {item["name"] for item in lab.api("/api/contents")["content"]}
        assert "mnist_cnn.ipynb" in listed  # it serves notebooks/
        assert git(clone, "config", "--local", "filter.nbstripout.clean")  # make lab configured the filter


@pytest.mark.full  # make test: the hook on a real git checkout (above), make lab in Chromium (test_lab_browser)
def test_make_labs_jupyterlab_strips_only_the_notebooks_git_tracks(clone, tmp_path):
    """The pre-save hook in a running `make lab`, saves made through its REST API as the page makes them: the user's
    own notebooks (new, in a subfolder, File → Duplicate of a committed one) keep outputs, execution counts and
    widget state on disk and in their checkpoint; a committed notebook is saved stripped, and so is a new one once
    `git add` tracks it."""
    notebooks = clone / "notebooks"
    save_with_outputs(notebooks / "mnist_cnn.ipynb")  # by another editor: a Duplicate of it has outputs to keep
    on_disk = json.loads((notebooks / "mnist_cnn.ipynb").read_text(encoding="utf-8"))
    ran = ran_with_widgets()
    committed = git(clone, "show", "HEAD:notebooks/mnist_cnn.ipynb").encode()
    with running_lab(clone, tmp_path) as lab:
        lab.send("PUT", "/api/contents/drafts", {"type": "directory"})
        for path in ("mine.ipynb", "drafts/mine.ipynb"):
            lab.send("PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": ran})
            assert json.loads((notebooks / path).read_text(encoding="utf-8")) == ran, path
            checkpoint = (notebooks / path).parent / ".ipynb_checkpoints" / "mine-checkpoint.ipynb"
            assert json.loads(checkpoint.read_text(encoding="utf-8")) == ran, path  # what File → Revert restores
        copy = lab.send("POST", "/api/contents", {"copy_from": "mnist_cnn.ipynb"})["path"]
        assert copy == "mnist_cnn-Copy1.ipynb"
        assert json.loads((notebooks / copy).read_text(encoding="utf-8")) == on_disk

        lab.send("PUT", "/api/contents/mnist_cnn.ipynb", {"type": "notebook", "format": "json", "content": ran})
        assert (notebooks / "mnist_cnn.ipynb").read_bytes() == committed
        # Tracked from now on (cat: git's own filter would take a second to start): stripped on its next save.
        git(clone, "-c", "filter.nbstripout.clean=cat", "add", "notebooks/mine.ipynb")
        lab.send("PUT", "/api/contents/mine.ipynb", {"type": "notebook", "format": "json", "content": ran})
        assert (notebooks / "mine.ipynb").read_bytes() == committed
        assert json.loads((notebooks / "drafts" / "mine.ipynb").read_text(encoding="utf-8")) == ran
    assert "Pre-save hook" not in lab.output()  # what jupyter_server logs when the hook raised (and saved unstripped)


def stop_group(process: subprocess.Popen, seconds: float = 30) -> None:
    """SIGTERM to `process`'s own session (make and the jupyter server it started), until all of it is gone;
    SIGKILL after `seconds`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # make and all it started have exited already
        process.wait()
        return
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
