"""Runs that survive faults: kill and resume, determinism, concurrent runs, interruptions, timeouts."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import QUICK_REPORT, as_if_typed_in_a_terminal, digitlib_cli, digitlib_in_process, run_dir_of
from digitlib.backends import BACKENDS, configured_backend

pytestmark = pytest.mark.e2e
SLICE = QUICK_REPORT  # 3,000 training images, 2 epochs: the session's quick report is the reference run
TIMINGS = {"train_seconds", "epoch_seconds"}


def comparable(metrics: dict) -> dict:
    """metrics.json without what may differ between identical runs: timings and where the data came from."""
    metrics = json.loads(json.dumps(metrics))
    for key in TIMINGS:
        metrics["training"].pop(key)
    metrics.pop("environment")
    return metrics


@pytest.fixture(scope="module", params=[name if name == "tensorflow" else pytest.param(name, marks=pytest.mark.full)
                                        for name in BACKENDS])
def backend(request) -> str:
    """Each test that compares with the reference run does so on both backends: TensorFlow in make test, JAX in
    make test-full (make test checks JAX's resume from a checkpoint within fit_model, test_checkpoint)."""
    return request.param


@pytest.fixture(scope="module")
def reference(backend, tmp_path_factory, mnist_dir, request):
    """The uninterrupted run every fault is compared with, on `backend`: on the configured one, the session's quick
    report (the same parameters); on the other, a run of its own."""
    if backend == configured_backend():
        return json.loads((request.getfixturevalue("report_run") / "metrics.json").read_text())
    folder = tmp_path_factory.mktemp(f"reference-{backend}")
    result = digitlib_cli("report", "--json", "--backend", backend, *SLICE, "-p", "data_dir", mnist_dir, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir_of(result, folder) / "metrics.json").read_text())


@pytest.mark.full  # make test: a run killed and resumed equals the uninterrupted one, so the same seed gives it
def test_same_seed_same_numbers(backend, reference, mnist_dir, tmp_path):
    result = digitlib_cli("report", "--json", "--backend", backend, *SLICE, "-p", "data_dir", mnist_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    again = json.loads((run_dir_of(result, tmp_path) / "metrics.json").read_text())
    assert comparable(again) == comparable(reference)
    assert again["reproducibility"] == {"seed": 42, "backend": backend, "op_determinism": True}


def start(arguments, cwd):
    return subprocess.Popen([sys.executable, "-m", "digitlib", *map(str, arguments)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=as_if_typed_in_a_terminal)


def process_tree(pid: int) -> list[int]:
    """`pid` and every process it started that still runs, as /proc lists them now."""
    found, waiting = [], [pid]
    while waiting:
        current = waiting.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                waiting += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # it ended meanwhile
                pass
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until_gone(pids: list[int], timeout: float = 30) -> None:
    """Polls until none of `pids` runs (an orphaned kernel notices its parent is gone within a second or two)."""
    deadline = time.monotonic() + timeout
    while alive := [pid for pid in pids if running(pid)]:
        assert time.monotonic() < deadline, f"still running {timeout:.0f} s after the kill: {alive}"
        time.sleep(0.05)


def wait_for_line(process, prefix: str) -> list[str]:
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"the run ended before printing {prefix!r}: {lines} {process.stderr.read()[-2000:]}")


@pytest.mark.parametrize("fault", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.full)],
                         ids=["SIGKILL", "SIGTERM"])  # make test: Ctrl-C marks a run interrupted (below)
def test_killed_mid_training_then_resumed_matches_the_uninterrupted_run(backend, fault, reference, mnist_dir, tmp_path):
    process = start(["report", "--backend", backend, *SLICE, "-p", "data_dir", mnist_dir], tmp_path)
    wait_for_line(process, "epoch 1/2")
    deadline = time.monotonic() + 60
    while not list((tmp_path / "reports").glob("*/checkpoint.json")):  # saved just after the epoch's line
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint after the first epoch"
        time.sleep(0.02)
    tree = process_tree(process.pid)  # the command and its kernel, killed while the second epoch trains
    assert len(tree) >= 2, tree
    process.send_signal(fault)
    process.wait(timeout=60)
    wait_until_gone(tree)  # the orphaned kernel must not write into the run while it resumes
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    record = json.loads((run_dir / "run.json").read_text())
    assert not (run_dir / "metrics.json").exists(), "no finished-looking results after a kill"
    assert (run_dir / "checkpoint.json").exists()
    if fault == signal.SIGTERM:  # handled: the run is marked, indexed and rendered up to the kill
        assert process.returncode == 130 and record["status"] == "interrupted"
        assert 'class="status interrupted"' in (tmp_path / "reports" / "index.html").read_text()
    else:  # no chance to write anything: the record still says running, with a dead process
        assert record["status"] == "running"

    resumed = digitlib_cli("report", "--resume", run_dir.name, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after epoch" in resumed.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"] == reference["test"]
    assert comparable(metrics) == comparable(reference)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "succeeded" and record["resumed"] == 1 and record["backend"] == backend
    assert os.readlink(tmp_path / "reports" / "latest") == run_dir.name


def test_resume_refuses_finished_and_unknown_runs(tmp_path):
    result = digitlib_in_process("report", "--resume", "20990101-000000-nothere", cwd=tmp_path)
    assert result.returncode == 2 and "no run '20990101-000000-nothere'" in result.stderr
    finished = tmp_path / "reports" / "20261125-100000-done"
    finished.mkdir(parents=True)
    (finished / "run.json").write_text(json.dumps({"status": "succeeded", "started": "2026-11-25T10:00:00",
                                                   "notebook_name": "mnist_cnn", "parameters": {"epochs": 1}}))
    result = digitlib_in_process("report", "--resume", finished.name, cwd=tmp_path)
    assert result.returncode == 2
    assert f"run {finished.name} already succeeded; there is nothing to resume" in result.stderr
    assert sorted(p.name for p in finished.iterdir()) == ["run.json"]


@pytest.mark.full  # make test: runs beside others in one reports folder each get their row (test_report_e2e)
def test_two_runs_started_at_once_are_both_indexed(mnist_dir, tmp_path):
    tiny = ["report", "-p", "train_limit", "1000", "-p", "test_limit", "200", "-p", "epochs", "1",
            "-p", "data_dir", mnist_dir]
    processes = [start(tiny, tmp_path), start(tiny, tmp_path)]
    for process in processes:
        process.communicate(timeout=300)
        assert process.returncode == 0
    runs = sorted(p.name for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 2 and runs[0] != runs[1]
    page = (tmp_path / "reports" / "index.html").read_text()
    assert all(f'href="{run}/report.html"' in page for run in runs)
    assert page.count('class="status succeeded"') == 2


def test_ctrl_c_marks_the_run_interrupted(mnist_dir, tmp_path):
    process = start(["report", *SLICE, "-p", "data_dir", mnist_dir], tmp_path)
    wait_for_line(process, "epoch 1/2")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    assert process.returncode == 130, stderr
    assert stderr.splitlines()[-1] == f"digitlib: interrupted; run {run_dir.name} is marked 'interrupted' in the index"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.full  # make test: Ctrl-C marks a run interrupted (above); a closed pipe ends predict with 141 (test_cli)
def test_a_report_whose_reader_goes_away_is_interrupted_resumable_and_exits_141(mnist_dir, tmp_path):
    """`digitlib report | head -3`: the run stops as on Ctrl-C, its record says why, no traceback."""
    process = start(["report", *SLICE, "-p", "data_dir", mnist_dir], tmp_path)
    wait_for_line(process, "epoch 1/2")
    process.stdout.close()  # the reader has what it wanted
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141 and "Traceback" not in stderr and "interrupted" not in stderr, stderr
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and "the reader of its output went away" in record["error"]
    assert not (run_dir / "metrics.json").exists()


def test_timeout_marks_the_run_timed_out(mnist_dir, tmp_path):
    result = digitlib_cli("report", *SLICE, "-p", "data_dir", mnist_dir, "--timeout", "1", cwd=tmp_path)
    assert result.returncode == 1 and "timed out: a cell ran longer than the 1 s timeout" in result.stderr
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "timed out"
    assert 'class="status timed-out"' in (tmp_path / "reports" / "index.html").read_text()


KILLED_WHILE_RENDERING = """
import os, signal, sys
import digitlib.run.runner
digitlib.run.runner.render_html = lambda *arguments, **options: os.kill(os.getpid(), signal.SIGKILL)
from digitlib.run.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.full  # make test: killed mid-training, then resumed (above)
def test_killed_while_rendering_then_resumed_only_renders(mnist_dir, tmp_path):
    tiny = ["report", "-p", "train_limit", "1000", "-p", "test_limit", "200", "-p", "epochs", "1",
            "-p", "data_dir", mnist_dir]
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_RENDERING, *map(str, tiny)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "rendering"
    assert not (run_dir / "report.html").exists()
    metrics = (run_dir / "metrics.json").read_text()
    from digitlib.run.index import write_index
    from digitlib.rundir import read_runs

    (run,) = read_runs(tmp_path / "reports")  # what the index says of it
    assert run.status == "interrupted" and "while rendering" in run.error
    assert 'class="status interrupted"' in write_index(tmp_path / "reports").read_text()

    resumed = digitlib_cli("report", "--resume", run_dir.name, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "rendering its report again" in resumed.stdout and "epoch" not in resumed.stdout
    assert (run_dir / "metrics.json").read_text() == metrics  # nothing retrained or re-evaluated
    assert "Recognizing handwritten digits" in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"
    assert os.readlink(tmp_path / "reports" / "latest") == run_dir.name
