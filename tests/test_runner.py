"""The runner's bookkeeping: run ids, directories, atomic files, the index and failures."""

import json
import logging
import os
import re
from datetime import UTC, datetime

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import missing
from digitlib.atomic import replace_symlink, write_atomic
from digitlib.params import ParameterError
from digitlib.run.index import write_index
from digitlib.run.runner import create_run_directory, render_html, run_id_for, run_report
from digitlib.rundir import read_runs
from test_rundir import valid_metrics


def test_run_id_is_time_plus_parameter_digest():
    when = datetime(2026, 11, 25, 13, 1, 2, tzinfo=UTC)
    first = run_id_for({"epochs": 1}, when)
    assert re.fullmatch(r"20261125-130102-[0-9a-f]{8}", first)
    assert first == run_id_for({"epochs": 1}, when) != run_id_for({"epochs": 2}, when)


def test_run_directories_are_never_reused(tmp_path):
    made = [create_run_directory(tmp_path, "run") for _ in range(3)]
    assert [p.name for p in made] == ["run", "run-2", "run-3"]


def test_write_atomic_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "metrics.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["metrics.json"]


def test_partial_writes_of_a_killed_writer_are_found_and_removed_and_nothing_else(tmp_path):
    from digitlib.atomic import remove_partial_writes

    target = tmp_path / "checkpoint.json"
    write_atomic(target, "done")
    left = [tmp_path / ".checkpoint.json.a1b2c3.tmp", tmp_path / ".checkpoint.json.zz9.tmp"]
    others = [tmp_path / ".checkpoint.json.tmp.notes", tmp_path / ".metrics.json.q1.tmp", tmp_path / "x.tmp"]
    for path in left + others:
        path.write_text("half")
    assert remove_partial_writes(target) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.json", *(p.name for p in others)])
    assert target.read_text() == "done" and remove_partial_writes(target) == []


def test_replace_symlink_moves_latest(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    replace_symlink(tmp_path / "latest", "a")
    replace_symlink(tmp_path / "latest", "b")
    assert os.readlink(tmp_path / "latest") == "b"


def _fake_run(reports, run_id, status, accuracy=None, started="2026-11-25T10:00:00+00:00"):
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(
        {"run_id": run_id, "status": status, "started": started, "parameters": {"model": "seed", "epochs": 3},
         "error": "DataError: boom" if status == "failed" else None}))
    if accuracy is not None:
        (run_dir / "metrics.json").write_text(json.dumps(valid_metrics(accuracy)))


def test_index_lists_every_run_newest_first(tmp_path):
    _fake_run(tmp_path, "20261125-100000-aaaa", "succeeded", 0.9871)
    _fake_run(tmp_path, "20261125-110000-bbbb", "failed", started="2026-11-25T11:00:00+00:00")
    (tmp_path / "not-a-run").mkdir()
    replace_symlink(tmp_path / "latest", "20261125-100000-aaaa")
    assert [run.run_id for run in read_runs(tmp_path)] == ["20261125-110000-bbbb", "20261125-100000-aaaa"]
    page = write_index(tmp_path).read_text()
    assert page.index("110000-bbbb") < page.index("100000-aaaa")
    assert "98.71%" in page and "12 s" in page and 'class="status failed"' in page
    assert '<a href="20261125-100000-aaaa/report.html">' in page and "2 runs" in page


def _notebook(path, *sources):
    cells = [new_markdown_cell("# A tiny report")]
    cells.append(new_code_cell("value = 1", metadata={"tags": ["parameters"]}))
    cells += [new_code_cell(source) for source in sources]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                      "display_name": "Python 3"}}), path)
    return path


def test_render_html_is_self_contained_and_hides_code(tmp_path):
    notebook = _notebook(tmp_path / "n.ipynb", "secret_code = 42")
    html = render_html(notebook, tmp_path / "n.html").read_text()
    assert "A tiny report" in html and "secret_code" not in html
    assert not re.search(r"<script[^>]+src=", html) and "cdn" not in html.lower()
    assert "secret_code" in render_html(notebook, tmp_path / "c.html", show_code=True).read_text()


def test_invalid_parameters_create_nothing(tmp_path):
    with pytest.raises(ParameterError, match="epochs"):
        run_report({"epochs": 0}, reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


@pytest.mark.e2e  # executes a notebook in a real kernel
def test_failing_notebook_is_rendered_recorded_and_indexed(tmp_path):
    notebook = _notebook(tmp_path / "fails.ipynb", "print('before the failure')", "raise ValueError('no luck')")
    result = run_report({"epochs": 1}, reports_dir=tmp_path / "reports", notebook_path=notebook,
                        stream=open(os.devnull, "w"))
    assert result.status == "failed" and result.error.startswith("ValueError: no luck")
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["finished"] and record["parameters"]["epochs"] == 1
    html = result.report.read_text()
    assert "before the failure" in html and "no luck" in html
    assert 'class="status failed"' in (tmp_path / "reports" / "index.html").read_text()
    assert not (tmp_path / "reports" / "latest").exists()


def _succeeding(tmp_path):
    return _notebook(tmp_path / "fine.ipynb", "print('all good')")


@pytest.mark.e2e  # executes a notebook in a real kernel
def test_a_run_stands_when_the_index_cannot_be_replaced(tmp_path, monkeypatch, capsys):
    """Root ignores file modes, so the failure is injected: the index writer raises."""
    import digitlib.run.runner

    def refuse(reports_dir, latest=None):
        raise PermissionError(13, "Permission denied", str(reports_dir / "index.html"))

    monkeypatch.setattr(digitlib.run.runner, "write_index", refuse)
    result = run_report({"epochs": 1}, reports_dir=tmp_path / "reports", notebook_path=_succeeding(tmp_path),
                        stream=open(os.devnull, "w"))
    assert result.status == "succeeded" and result.error is None
    assert json.loads((result.run_dir / "run.json").read_text())["status"] == "succeeded"
    warning = capsys.readouterr().err
    assert "digitlib: warning: the run's own files are written" in warning and "Permission denied" in warning


@pytest.mark.e2e  # executes a notebook in a real kernel
def test_a_run_stands_when_index_html_is_immutable(tmp_path):
    import subprocess

    reports = tmp_path / "reports"
    reports.mkdir()
    stale = write_index(reports)
    if subprocess.run(["chattr", "+i", str(stale)], capture_output=True).returncode != 0:
        missing("chattr +i: this filesystem has no immutable attribute (CI's does)")
    try:
        result = run_report({"epochs": 1}, reports_dir=reports, notebook_path=_succeeding(tmp_path),
                            stream=open(os.devnull, "w"))
    finally:
        subprocess.run(["chattr", "-i", str(stale)])
    assert result.status == "succeeded"
    assert json.loads((result.run_dir / "run.json").read_text())["status"] == "succeeded"


@pytest.mark.e2e  # executes a notebook in a real kernel
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_users_usual_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = write_atomic(tmp_path / "metrics.json", "{}")
        result = run_report({"epochs": 1}, reports_dir=tmp_path / "reports", notebook_path=_succeeding(tmp_path),
                            stream=open(os.devnull, "w"))
    finally:
        os.umask(old)
    assert written.stat().st_mode & 0o777 == mode
    for path in [result.run_dir / "run.json", result.report, tmp_path / "reports" / "index.html"]:
        assert path.stat().st_mode & 0o777 == mode, path


def test_rebuilding_the_index_points_best_at_the_best_model_and_marks_it(tmp_path):
    """reports/best is recomputed from every run at each rebuild: a better run moves it, a deleted one is
    not left linked, and with no finished model it is removed and the page says why."""
    import shutil

    from test_rundir import trained_run

    reports = tmp_path / "<b>reports"  # the page shows the folder's name in its message: escaped
    trained_run(reports, "20261125-100000-fast", "fast", 0.99)
    page = write_index(reports).read_text()
    assert os.readlink(reports / "best") == "20261125-100000-fast"
    assert '<a href="best/report.html">fast, run 20261125-100000-fast, validation accuracy 99.00%</a>' in page
    assert page.count('class="best"') == 1
    assert re.search(r'20261125-100000-fast</a> <strong class="best"', page)
    strong = trained_run(reports, "20261125-080000-strong", "strong", 0.98)
    write_index(reports)
    assert os.readlink(reports / "best") == "20261125-080000-strong"
    shutil.rmtree(strong)
    write_index(reports)
    assert os.readlink(reports / "best") == "20261125-100000-fast"
    shutil.rmtree(reports / "20261125-100000-fast")
    trained_run(reports, "20261125-110000-quick", "strong", 0.98, train_limit=3000)
    page = write_index(reports).read_text()
    assert not (reports / "best").is_symlink() and 'class="best"' not in page
    assert ("No best finished model for <code>digitlib predict</code> yet: no finished model to read with in "
            f"{tmp_path}/&lt;b&gt;reports: of its 1 finished training run, 1 trained on part of the training set "
            "(train_limit).") in page
    assert "<b>" not in page and sorted(os.listdir(reports)) == ["20261125-110000-quick", "index.html"]


@pytest.mark.e2e  # executes a notebook in a real kernel
def test_a_run_updates_latest_and_best_together(tmp_path):
    """Through the runner: a finished run that saved a model becomes latest and, being the only one, best."""
    notebook = _notebook(tmp_path / "saves.ipynb",  # output_dir: set by the runner
                         "import pathlib; pathlib.Path(output_dir, 'model.keras').write_bytes(b'PK')")
    result = run_report({"epochs": 1}, reports_dir=tmp_path / "reports", notebook_path=notebook,
                        stream=open(os.devnull, "w"))
    assert result.status == "succeeded", result.error
    reports = tmp_path / "reports"
    assert os.readlink(reports / "latest") == os.readlink(reports / "best") == result.run_dir.name
    assert 'class="best"' in (reports / "index.html").read_text()


@pytest.mark.parametrize("name", ["latest", "best", "index.html"])
def test_a_run_directory_never_takes_a_name_the_reports_folder_keeps(tmp_path, name):
    with pytest.raises(ParameterError, match=f"'{name}' is kept for the reports folder's "):
        create_run_directory(tmp_path, name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_replace_symlink_leaves_anything_but_a_link_alone_and_no_temporary(tmp_path, kind):
    (tmp_path / "a").mkdir()
    if kind == "folder":
        (tmp_path / "latest").mkdir()
    else:
        (tmp_path / "latest").write_text("the user's")
    with pytest.raises(FileExistsError, match="not a link, so it is left alone"):
        replace_symlink(tmp_path / "latest", "a")
    assert sorted(os.listdir(tmp_path)) == ["a", "latest"] and not (tmp_path / "latest").is_symlink()
    assert kind == "folder" or (tmp_path / "latest").read_text() == "the user's"


def test_json_records_are_utf8_whatever_the_paths_they_name(tmp_path):
    """A file name's bytes that are not UTF-8 come back from Python as lone surrogates, which json.dumps writes as
    \\udce9: not UTF-8 once read back. Recorded, they read as the \\xe9 the terminal shows."""
    from digitlib.atomic import write_json

    name = os.fsdecode(b"/data/rep\xe9orts")
    written = write_json(tmp_path / "run.json", {"notebook": name, name: [name]})
    assert json.loads(written.read_bytes().decode("utf-8")) == {"notebook": "/data/rep\\xe9orts",
                                                               "/data/rep\\xe9orts": ["/data/rep\\xe9orts"]}


def test_a_parameter_whose_path_is_not_utf8_is_refused_before_anything_is_created(tmp_path):
    """The notebook is UTF-8 JSON: papermill cannot write such a path into it, and the run would fail."""
    data_dir = tmp_path / os.fsdecode(b"mn\xefst")
    data_dir.mkdir()
    with pytest.raises(ParameterError, match=r"parameter 'data_dir'=.*/mn\\xefst is not UTF-8 text.*; rename it"):
        run_report({"data_dir": str(data_dir)}, reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


@pytest.mark.e2e  # executes a notebook in a real kernel
def test_a_run_in_a_reports_folder_whose_name_is_not_utf8_succeeds(tmp_path):
    """The notebook gets the run's folder under a UTF-8 name (papermill writes it into the notebook, which is UTF-8
    JSON) and saves into the real one; what is recorded in JSON shows the name's bytes escaped."""
    reports = tmp_path / os.fsdecode(b"rep\xe9orts")
    notebook = _notebook(tmp_path / "saves.ipynb",  # output_dir: set by the runner
                         "import pathlib; pathlib.Path(output_dir, 'model.keras').write_bytes(b'PK')")
    result = run_report({"epochs": 1}, reports_dir=reports, notebook_path=notebook, stream=open(os.devnull, "w"))
    assert result.status == "succeeded", result.error
    assert (result.run_dir / "model.keras").read_bytes() == b"PK"
    assert os.readlink(reports / "latest") == os.readlink(reports / "best") == result.run_dir.name
    assert "1 run," in (reports / "index.html").read_bytes().decode("utf-8")
    assert json.loads((result.run_dir / "run.json").read_bytes().decode("utf-8"))["status"] == "succeeded"
    assert json.dumps(result.as_dict(), ensure_ascii=False).encode("utf-8").count(b"rep\\\\xe9orts") == 2
    assert sorted(os.listdir(reports)) == [".lock", result.run_dir.name, "best", "index.html", "latest"]


FULL_DISK = """
import resource, signal, sys
from digitlib.run.cli import main

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))  # run.json takes some 700 bytes
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.e2e  # make test, not test-quick: seconds of real processes or of a timeout
def test_a_run_that_cannot_write_its_record_leaves_no_folder_and_says_so_in_one_line(tmp_path):
    """A full disk, as a file size limit makes it for one process: the run cannot even record itself, so nothing of it
    stays, and the command says why in one line (exit 2, as for every run refused before it starts)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", FULL_DISK, "report", "-p", "epochs", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.fullmatch(r"digitlib: error: file too large writing reports/20\d{6}-\d{6}-[0-9a-f]{8}/run\.json: a "
                        r"file size limit \(ulimit -f\) stops it; raise the limit and run again\n", result.stderr), \
        result.stderr
    assert not (tmp_path / "reports").exists()


def test_a_full_disk_is_named_as_such(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    from digitlib.run.runner import cannot_write

    device = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as full:
            os.write(device, b"x")
    finally:
        os.close(device)
    assert str(cannot_write(tmp_path / "run.json", full.value)) == (
        f"no space left on device writing {tmp_path}/run.json; free space and run again")


@pytest.mark.timeout(30)  # a regression waits on the FIFO: it fails here instead of hanging the suite
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_rendering_never_waits_on_a_fifo_named_like_the_notebook(tmp_path):
    os.mkfifo(tmp_path / "notebook.ipynb")
    with pytest.raises(ValueError, match="notebook.ipynb: not a regular file"):
        render_html(tmp_path / "notebook.ipynb", tmp_path / "report.html")
    assert sorted(os.listdir(tmp_path)) == ["notebook.ipynb"]


def test_a_received_notebook_is_rendered_only_up_to_64_mb(tmp_path):
    """A report's notebook takes a few MB (figures embedded); one a worker sends back is rendered here, so a bigger one
    is refused before it is read whole (500 MB let a 25 MB archive within the cluster's 20-fold ratio through)."""
    from digitlib.run.runner import MAX_NOTEBOOK_BYTES

    assert MAX_NOTEBOOK_BYTES == 64_000_000
    with open(tmp_path / "notebook.ipynb", "wb") as huge:
        huge.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: no disk, and read as zeros
    with pytest.raises(ValueError, match="notebook.ipynb: larger than 64,000,000 bytes, more than a report holds"):
        render_html(tmp_path / "notebook.ipynb", tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_a_stop_signal_as_the_record_is_written_still_leaves_the_run_interrupted(tmp_path, monkeypatch):
    """SIGTERM or Ctrl-C right after run.json first says running (a sweep stops its runs as soon as it sees one)."""
    from digitlib.atomic import write_json
    from digitlib.run import runner

    def write_then_interrupted(path, value):
        written = write_json(path, value)
        if value["status"] == "running":
            raise KeyboardInterrupt  # as the signal handler raises it, at the first bytecode after the write
        return written

    monkeypatch.setattr(runner, "write_json", write_then_interrupted)
    notebook = _notebook(tmp_path / "never.ipynb", "raise SystemExit('the notebook must not run')")
    with pytest.raises(KeyboardInterrupt):
        run_report({"epochs": 1}, reports_dir=tmp_path / "reports", notebook_path=notebook,
                   stream=open(os.devnull, "w"))
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "reports").glob("*/run.json")]
    assert record["status"] == "interrupted" and "--resume" in record["error"]


def test_an_interrupted_runs_dead_kernel_cell_is_not_reported_by_asyncio(caplog):
    """The cell task papermill left behind when a run was interrupted ends with DeadKernelError; once the run
    stopped, asyncio collects it without printing a traceback. Other unretrieved errors are still reported."""
    import asyncio
    import gc

    from nbclient.exceptions import DeadKernelError

    from digitlib.run.runner import quiet_stopped_kernel_cells

    async def fails_with(error):
        raise error

    def leave_unretrieved(error):
        async def start_and_drop():
            task = asyncio.ensure_future(fails_with(error))
            await asyncio.sleep(0)
            assert task.done()
        asyncio.run(start_and_drop())
        gc.collect()

    quiet_stopped_kernel_cells()
    quiet_stopped_kernel_cells()  # once per process, however often
    assert sum(type(f).__name__ == "_StoppedKernelCells" for f in logging.getLogger("asyncio").filters) == 1
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        leave_unretrieved(DeadKernelError("Kernel died"))
        leave_unretrieved(ValueError("a real bug"))
    reported = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert [type(error) for error in reported] == [ValueError]
