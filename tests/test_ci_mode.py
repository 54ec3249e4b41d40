"""In CI (CI=true, as .ci/run sets it) a part the tests need and this machine lacks stops pytest with one line before
any test runs (exit status 4, so make test fails); on a developer's machine the tests that need it skip, saying what
is missing."""

import os
import subprocess
import sys

import pytest

from conftest import REPOSITORY

pytestmark = pytest.mark.e2e  # each test starts pytest in a new process: seconds

NEEDS_MNIST = "tests/test_data.py::test_real_files_load_with_canonical_shapes"


def pytest_run(test: str, **environment: str) -> tuple[int, list[str]]:
    """pytest on one test in a new process, as `make test` runs it, with `environment` over this one's."""
    env = {name: value for name, value in os.environ.items() if name not in ("CI", "DIGITLIB_TEST_STRICT")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "--no-header", "-p", "no:cacheprovider", test],
                          cwd=REPOSITORY, capture_output=True, text=True, timeout=120, env={**env, **environment})
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("environment, line", [
    ({"DIGITLIB_DATA_DIR": "/nonexistent/mnist"},
     "missing in CI: the MNIST files are not in /nonexistent/mnist: set DIGITLIB_DATA_DIR to a folder holding"),
    ({"DIGITLIB_CHROMIUM": "/nonexistent/chromium"},
     "missing in CI: Chromium is not installed at /nonexistent/chromium"),
])
def test_in_ci_a_missing_data_folder_or_browser_fails_the_session_with_one_line(environment, line):
    status, lines = pytest_run(NEEDS_MNIST, CI="true", **environment)
    assert status == pytest.ExitCode.USAGE_ERROR and len(lines) == 1 and lines[0].startswith(f"ERROR: {line}"), lines


def test_on_a_developers_machine_the_same_test_skips_saying_what_is_missing():
    status, lines = pytest_run(NEEDS_MNIST, DIGITLIB_DATA_DIR="/nonexistent/mnist")
    skipped = [text for text in lines if text.startswith("SKIPPED")]
    assert status == 0 and len(skipped) == 1 and "the MNIST files are not in /nonexistent/mnist" in skipped[0], lines
