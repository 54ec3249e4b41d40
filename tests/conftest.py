"""Shared fixtures: the real MNIST files (a slice of them), and helpers that write IDX files."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPOSITORY = Path(__file__).resolve().parent.parent


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write `array` (uint8) as a gzip-compressed IDX file, optionally with a wrong magic number."""
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())
    return path


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The canonical MNIST files: $DIGITLIB_DATA_DIR, else ../shared/data/mnist beside the project."""
    candidates = [os.environ.get("DIGITLIB_DATA_DIR"), REPOSITORY.parent / "shared" / "data" / "mnist"]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    pytest.skip("the MNIST files are not available: set DIGITLIB_DATA_DIR to a folder holding them")


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


QUICK_REPORT = ["-p", "train_limit", "3000", "-p", "test_limit", "1000", "-p", "epochs", "2",
                "-p", "batch_size", "64", "-p", "validation_split", "0.1"]


def as_if_typed_in_a_terminal() -> None:
    """For a child process that will get Ctrl-C: a shell that starts a script in the background (as a
    CI runner may) leaves SIGINT ignored, and the child would inherit that. Give it the default back."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def digitlib_cli(*arguments, cwd, timeout=600):
    """Run the `digitlib` command line in `cwd` as a user would."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "digitlib.cli", *map(str, arguments)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run_dir_of(result, cwd: Path) -> Path:
    """The run directory of a `digitlib report --json` result (relative paths are from `cwd`)."""
    import json

    return cwd / json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory, mnist_dir):
    """One quick successful training report, run once for the whole session as a user would (human
    output), in a folder of its own: (folder, the finished command). Tests that add runs beside it
    use the folder; tests that need a folder to themselves make their own."""
    folder = tmp_path_factory.mktemp("quick")
    result = digitlib_cli("report", *QUICK_REPORT, "-p", "data_dir", mnist_dir, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result


@pytest.fixture(scope="session")
def report_run(quick_report) -> Path:
    """The run directory of `quick_report` (reports/latest: the folder's only successful training run)."""
    import os

    folder, _ = quick_report
    return folder / "reports" / os.readlink(folder / "reports" / "latest")


@pytest.fixture(scope="session")
def prediction_run(report_run, tmp_path_factory) -> Path:
    """The prediction notebook on the shipped samples, with the model of `report_run`, in its own folder."""
    folder = tmp_path_factory.mktemp("prediction")
    result = digitlib_cli("report", "--json", "--notebook", "predict_your_digits", "-p", "model_path",
                          report_run / "model.keras", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir_of(result, folder)


# Debian's chromium, driven by Playwright (no browser download), for the tests that read pages in a browser.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make test installs Debian's chromium where it can)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()
