"""Shared fixtures: the real MNIST files (a slice of them), trained runs shared by many modules, Chromium, and
helpers that write IDX files and run the command line.

What a test needs and this machine lacks (the MNIST folder, Chromium, an extra, chattr) skips the test with one
line on a developer's machine; in CI (CI=true, as .ci/run sets it) or with DIGITLIB_TEST_STRICT=1 the same line
fails it instead, so a green CI never hides a part that did not run."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import os
import shutil
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from digitlib.rundir import load_jsonschema

load_jsonschema()  # as digitlib imports it, before the test modules do: 3 s less per worker
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No test logs to the user's own MLflow server: tracking is only what a test asks for with --mlflow.
os.environ.pop("MLFLOW_TRACKING_URI", None)

REPOSITORY = Path(__file__).resolve().parent.parent
STRICT = os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("DIGITLIB_TEST_STRICT") == "1"


GIT_FILTERS = REPOSITORY / "scripts" / "git-filters"


def git_filters():
    """scripts/git-filters as a module: its OPTIONS, settings() and strip() (its name has no .py)."""
    loader = SourceFileLoader("git_filters", str(GIT_FILTERS))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def missing(what: str) -> NoReturn:
    """This machine lacks `what` (a sentence that says how to get it): skip, or in CI fail, with that one line.
    Usable in a test, a fixture or at a test module's top level."""
    if STRICT:
        pytest.fail(f"missing in CI: {what}", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def require_module(name: str, what: str):
    """`import name`, else `missing(what)`."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(what)


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write `array` (uint8) as a gzip-compressed IDX file, optionally with a wrong magic number."""
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())
    return path


# $DIGITLIB_DATA_DIR when it is set (and only it), else ../shared/data/mnist beside the project.
MNIST_CANDIDATE = Path(os.environ.get("DIGITLIB_DATA_DIR") or REPOSITORY.parent / "shared" / "data" / "mnist")
MNIST_DIR = MNIST_CANDIDATE.resolve() if (MNIST_CANDIDATE / "train-images-idx3-ubyte.gz").is_file() else None
if MNIST_DIR is not None:  # every child process (reports, workers, kernels) reads the same files, never the network
    os.environ["DIGITLIB_DATA_DIR"] = str(MNIST_DIR)


# The modules that take longest, first: pytest-xdist (--dist loadfile) hands modules to its two workers in
# collection order, and started first they leave short ones to even out the end. test_predict makes the shared
# quick report, so the next module (test_tracking) needs none of it. The rest keep their usual order.
LONGEST_FIRST = ["test_predict", "test_tracking", "test_trustworthy", "test_sweep", "test_cluster", "test_lab_browser",
                 "test_ensemble"]


def pytest_collection_modifyitems(config, items):
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__, len(rank)))  # stable: a module keeps its order


def _no_mnist() -> str:
    return f"the MNIST files are not in {MNIST_CANDIDATE}: set DIGITLIB_DATA_DIR to a folder holding the four " \
           "*-idx?-ubyte.gz files"


def pytest_configure(config):
    """In CI, what most tests need is checked once, before any test runs: a missing part stops pytest with one
    line (ERROR: missing in CI: ...; exit status 4) instead of failing a hundred tests."""
    if not STRICT:
        return
    for lacking, what in [(MNIST_DIR is None, _no_mnist()),
                          (not Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM} (make test "
                                                         "installs Debian's chromium where it can)")]:
        if lacking:
            raise pytest.UsageError(f"missing in CI: {what}")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The canonical MNIST files: $DIGITLIB_DATA_DIR, else ../shared/data/mnist beside the project."""
    if MNIST_DIR is None:
        missing(_no_mnist())
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from digitlib import load_mnist

    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def small_splits(mnist):
    """1,200 training images (10% held out) and 500 test images, prepared."""
    from digitlib import prepare_splits

    return prepare_splits(mnist, validation_split=0.1, seed=0, train_limit=1200, test_limit=500)


@pytest.fixture(scope="session")
def trained(small_splits):
    """The seed model after one epoch on the small slice, with its training result."""
    from digitlib import build_model, fit_model, set_reproducible

    set_reproducible(0)
    model = build_model("seed")
    result = fit_model(model, small_splits, epochs=1, batch_size=32, learning_rate=0.001, stream=open(os.devnull, "w"))
    return model, result


# make test's share of the model x backend matrix: the seed network and the default model. The rest of the
# registry (keras-example, fast-plain, strong, ensemble) is in make test-full.
CORE_MODELS = ("seed", "fast")


def model_matrix(names) -> list:
    """`names` for pytest.mark.parametrize, those outside CORE_MODELS marked full."""
    return [name if name in CORE_MODELS else pytest.param(name, marks=pytest.mark.full) for name in names]


QUICK_REPORT = ["-p", "train_limit", "3000", "-p", "test_limit", "1000", "-p", "epochs", "2",
                "-p", "batch_size", "64", "-p", "validation_split", "0.1"]


def as_if_typed_in_a_terminal() -> None:
    """For a child process that will get Ctrl-C: a shell that starts a script in the background (as a
    CI runner may) leaves SIGINT ignored, and the child would inherit that. Give it the default back."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def digitlib_cli(*arguments, cwd, timeout=600, environment=None):
    """Run the `digitlib` command line in `cwd` as a user would (with these `environment` variables added)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "digitlib", *map(str, arguments)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(environment or {})})


def digitlib_in_process(*arguments, cwd: Path | None = None):
    """`digitlib ARGUMENTS` called in this process, as `digitlib_cli` runs it in a new one: the same parser,
    commands, output and exit status (argparse's usage errors included), without a new interpreter and its
    imports (Keras alone takes seconds). For tests of what a command prints and returns. What needs a process of
    its own stays with digitlib_cli: a signal, another Keras backend than this process's, the bytes a terminal
    gets. Restores what a command changes in the process: the environment, the working folder, the SIGTERM
    handler and how warnings are written (shown as the command line shows them, not collected by pytest)."""
    import contextlib
    import io
    import signal
    import subprocess
    import sys
    import warnings

    from digitlib.run import cli

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    out, err = io.StringIO(), io.StringIO()
    environment, formatwarning, sigterm = dict(os.environ), warnings.formatwarning, signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("default")  # Python's own filters, as a new interpreter has them
            for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings("ignore", category=quiet)
            warnings.showwarning = show
            try:
                status = cli.main([str(argument) for argument in arguments])
            except SystemExit as stop:  # argparse: exit status 2 after printing the usage error
                status = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(environment)
        warnings.formatwarning = formatwarning
        signal.signal(signal.SIGTERM, sigterm)
    return subprocess.CompletedProcess(["digitlib", *map(str, arguments)], status, out.getvalue(), err.getvalue())


def run_dir_of(result, cwd: Path) -> Path:
    """The run directory of a `digitlib report --json` result (relative paths are from `cwd`)."""
    import json

    return cwd / json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]


def once_per_run(name: str, tmp_path_factory, make) -> tuple[Path, object]:
    """`make(folder)` once for the whole test run, also across pytest-xdist's workers (make test runs two, each with
    its own session): the first worker to ask makes it in a folder of the run's, under a lock, and the others wait
    for it. (The folder, what `make` returned: a subprocess.CompletedProcess or a path.)"""
    import fcntl
    import json
    import subprocess

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the workers' common folder
    folder, answer = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not answer.is_file():
            folder.mkdir()
            made = make(folder)
            kept = {"path": str(made)} if isinstance(made, Path) else {
                "args": made.args, "returncode": made.returncode, "stdout": made.stdout, "stderr": made.stderr}
            answer.write_text(json.dumps(kept))
    kept = json.loads(answer.read_text())
    return folder, Path(kept["path"]) if "path" in kept else subprocess.CompletedProcess(**kept)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory, mnist_dir):
    """One quick successful training report, run once for the whole test run as a user would (human output),
    in a folder of its own: (folder, the finished command). Tests that add runs beside it use the folder;
    tests that need a folder to themselves make their own."""
    def report(folder: Path):
        result = digitlib_cli("report", *QUICK_REPORT, "-p", "data_dir", mnist_dir, cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return once_per_run("quick", tmp_path_factory, report)


@pytest.fixture(scope="session")
def report_run(quick_report) -> Path:
    """The run directory of `quick_report` (reports/latest: the folder's only successful training run)."""
    import os

    folder, _ = quick_report
    return folder / "reports" / os.readlink(folder / "reports" / "latest")


@pytest.fixture(scope="session")
def prediction_run(quick_report, report_run, tmp_path_factory) -> Path:
    """The prediction notebook on the shipped samples (six of nine carry a label in their names), run once for
    the test run beside `quick_report`'s run, with its model given as a relative path (reports/latest/model.keras)
    and every reading below 99% flagged as unsure."""
    folder, _ = quick_report

    def predict(_):
        result = digitlib_cli("report", "--json", "--notebook", "predict_your_digits", "-p", "model_path",
                              "reports/latest/model.keras", "-p", "low_confidence", "0.99", cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        return run_dir_of(result, folder)

    return once_per_run("prediction", tmp_path_factory, predict)[1]


# Debian's chromium, driven by Playwright (no browser download), for the tests that read pages in a browser.
# DIGITLIB_CHROMIUM points the tests at another build (or, in the test of CI's strictness, at none).
CHROMIUM = os.environ.get("DIGITLIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests (Playwright's loop is not left running beside other modules')."""
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium is not installed at {CHROMIUM} (make test installs Debian's chromium where it can)")
    playwright = require_module("playwright.sync_api", "Playwright is not installed (the dev extra; make test "
                                                      "installs it)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()
