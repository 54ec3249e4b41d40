"""reports/index.html and its links, rebuilt from whatever the reports folder holds: FIFOs, devices, folders where
the page or a link goes, names that are not UTF-8."""

import json
import os
import resource
import subprocess
import sys
import textwrap
import warnings

import pytest

from digitlib.run.index import write_index
from digitlib.run.runner import update_index
from digitlib.rundir import RunDirectoryWarning
from test_rundir import metrics_text, trained_run, write_run

GOOD = "20261125-100000-good"


def _limit_memory():
    gigabyte = 1024**3  # the rebuild needs a fraction of it; reading /dev/zero to its end fails fast instead of
    resource.setrlimit(resource.RLIMIT_AS, (4 * gigabyte, 4 * gigabyte))  # eating the machine


def hostile_reports(tmp_path, devices: bool):
    """A reports folder with a good run and runs whose run.json, metrics.json or test_predictions.npz is a FIFO (or,
    with `devices`, a link to /dev/zero); and a folder whose .lock is a FIFO. (reports, locked, FIFO'd names)."""
    reports = tmp_path / "reports"
    good = trained_run(reports, GOOD, "fast", 0.99)
    os.mkfifo(good / "test_predictions.npz")
    fifo = write_run(reports, "20261125-110000-fiforecord")
    (fifo / "run.json").unlink()
    os.mkfifo(fifo / "run.json")
    os.mkfifo(write_run(reports, "20261125-120000-fifometrics") / "metrics.json")
    skipped = [("fiforecord", "run.json", "a FIFO"), ("fifometrics", "metrics.json", "a FIFO")]
    if devices:
        zero = write_run(reports, "20261125-130000-zerorecord")
        (zero / "run.json").unlink()
        (zero / "run.json").symlink_to("/dev/zero")
        (write_run(reports, "20261125-140000-zerometrics") / "metrics.json").symlink_to("/dev/zero")
        skipped += [("zerorecord", "run.json", "a device"), ("zerometrics", "metrics.json", "a device")]
    locked = tmp_path / "locked"
    locked.mkdir()
    os.mkfifo(locked / ".lock")
    return reports, locked, skipped


REFUSED = "test_predictions.npz is not a regular file but a FIFO; remove it"


def lock_in_the_way(locked):
    return (f"digitlib: warning: the run's own files are written, but {locked}/.lock is a FIFO, not the lock file "
            "digitlib keeps there: move it out of the reports folder; the next run then rebuilds the index and its "
            "links\n")


@pytest.mark.timeout(20)  # a regression waits on a FIFO: it fails here instead of hanging the suite
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifos_in_the_reports_folder_never_hold_up_a_rebuild(tmp_path, capsys):
    """A FIFO blocks whoever opens it to read (or, for the lock, to write) until someone opens its other end: never,
    and the rebuild holds the reports lock meanwhile. Each is refused at once, with a warning."""
    from digitlib.report.results import read_test_predictions
    from digitlib.rundir import InvalidRun

    reports, locked, skipped = hostile_reports(tmp_path, devices=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        update_index(reports, reports / GOOD)
    assert capsys.readouterr().err == ""
    assert "1 run," in (reports / "index.html").read_text() and os.readlink(reports / "latest") == GOOD
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, RunDirectoryWarning)]
    assert sorted(message.rsplit("/", 1)[1].split("-", 2)[2] for message in messages) == sorted(
        f"{name}: {file} is not a regular file but {kind}; remove it" for name, file, kind in skipped)
    with pytest.raises(InvalidRun, match=REFUSED):
        read_test_predictions(reports / GOOD)
    update_index(locked, None)
    assert capsys.readouterr().err == lock_in_the_way(locked)


REBUILD = textwrap.dedent("""
    import sys, warnings
    from pathlib import Path
    from digitlib.run.index import write_index
    from digitlib.report.results import read_test_predictions
    from digitlib.rundir import InvalidRun, read_runs
    from digitlib.run.runner import update_index

    warnings.formatwarning = lambda message, *rest, **options: f"warning: {message}\\n"
    warnings.simplefilter("always")  # each read of the reports folder warns anew
    reports, locked = Path(sys.argv[1]), Path(sys.argv[2])
    print("runs:", [run.run_id for run in read_runs(reports)], flush=True)
    print("index:", "1 run," in write_index(reports).read_text(), flush=True)
    try:
        read_test_predictions(reports / sys.argv[3])
    except InvalidRun as refused:
        print("predictions refused:", refused, flush=True)
    update_index(locked, None)
    print("done", flush=True)
""")


@pytest.mark.full  # 15 s, most of it importing jsonschema; make test reads the FIFOs in-process (above)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifos_and_devices_in_the_reports_folder_are_skipped_promptly_with_a_warning(tmp_path):
    """A FIFO blocks whoever opens it to read, and /dev/zero never ends: a rebuild (which holds the reports lock)
    must neither wait on one nor read one to its end. Run in a process of its own, with 30 seconds and 4 GiB, so
    that a regression fails this test instead of hanging or exhausting the machine."""
    reports, locked, skipped = hostile_reports(tmp_path, devices=True)
    result = subprocess.run([sys.executable, "-c", REBUILD, reports, locked, GOOD], capture_output=True, text=True,
                            timeout=30, preexec_fn=_limit_memory)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [f"runs: ['{GOOD}']", "index: True", f"predictions refused: {REFUSED}",
                                          "done"]
    warned = sorted(line for line in result.stderr.splitlines() if line.startswith("warning: skipping"))
    assert len(warned) == 2 * 4, result.stderr  # read_runs, then write_index: each skips the four
    for name, file, kind in skipped:
        assert sum(line.endswith(f"-{name}: {file} is not a regular file but {kind}; remove it")
                   for line in warned) == 2, (name, warned)
    assert lock_in_the_way(locked) in result.stderr


def test_a_run_whose_metrics_hold_nan_is_skipped_not_shown_as_nan_percent(tmp_path):
    trained_run(tmp_path, GOOD, "fast", 0.99)
    bad = write_run(tmp_path, "20261125-110000-nan")
    (bad / "metrics.json").write_text(metrics_text(accuracy="NaN"))
    with pytest.warns(RunDirectoryWarning, match="110000-nan: metrics.json does not match its schema at test/accuracy"):
        page = write_index(tmp_path).read_text()
    assert "nan%" not in page.lower() and "1 run," in page


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_folder_where_the_index_or_a_link_goes_is_left_alone_and_named_in_one_line(tmp_path, capsys, kind):
    """A user's folder (or file) named index.html, latest or best is never replaced or deleted; the runner's warning
    says what to move instead of promising that the next run rebuilds what it never can, and no temporary link is
    left behind."""
    reports = tmp_path / "reports"
    run_dir = trained_run(reports, GOOD, "fast", 0.99)
    for name in ("index.html", "latest", "best"):
        if kind == "folder":
            (reports / name).mkdir()
            (reports / name / "mine.txt").write_text("the user's")
        else:
            (reports / name).write_text("the user's")
    update_index(reports, run_dir)
    warning = capsys.readouterr().err
    page = (f"{reports}/index.html is a folder, not the index page digitlib keeps there; " if kind == "folder"
            else "")  # a file there is the index page, rewritten
    what = "a folder" if kind == "folder" else "a file"
    assert warning == (
        f"digitlib: warning: the run's own files are written, but {page}{reports}/latest is {what}, not the link to "
        f"the latest successful run digitlib keeps there; {reports}/best is {what}, not the link to the best "
        "finished model digitlib keeps there: move them out of the reports folder; the next run then rebuilds the "
        "index and its links\n")
    assert sorted(os.listdir(reports)) == [".lock", GOOD, "best", "index.html", "latest"]  # no temporary left
    mine = ["index.html", "latest", "best"] if kind == "folder" else ["latest", "best"]
    for name in mine:
        kept = reports / name / "mine.txt" if kind == "folder" else reports / name
        assert not (reports / name).is_symlink() and kept.read_text() == "the user's"
    if kind == "file":
        assert "1 run," in (reports / "index.html").read_text()
    for name in mine:  # once moved, the next rebuild writes them all
        (reports / name).rename(tmp_path / name)
    update_index(reports, run_dir)
    assert capsys.readouterr().err == ""
    assert os.readlink(reports / "latest") == os.readlink(reports / "best") == GOOD
    assert (reports / "index.html").is_file()


def test_the_index_of_a_folder_whose_name_is_not_utf8_is_written(tmp_path):
    """A name's bytes that are not UTF-8 (Latin-1's é) reach the page through the reports folder's path (the
    message of why no model is the best) and through a run's recorded error: shown escaped, the page stays UTF-8."""
    reports = tmp_path / os.fsdecode(b"rep\xe9orts")
    trained_run(reports, GOOD, "fast", 0.99, train_limit=100)  # not the best: the page says why, naming the folder
    write_run(reports, "20261125-110000-failed", status="failed", error=f"OSError: cannot read {reports}/x")
    assert "\\udce9" in (reports / "20261125-110000-failed" / "run.json").read_text()  # as json.dumps writes it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = write_index(reports).read_bytes().decode("utf-8")
    assert page.count("rep\\xe9orts") == 2 and "2 runs," in page
    assert json.loads((reports / "20261125-110000-failed" / "run.json").read_text())["status"] == "failed"
