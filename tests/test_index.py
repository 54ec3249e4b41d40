"""reports/index.html and its links, rebuilt from whatever the reports folder holds: FIFOs, devices, folders where
the page or a link goes, names that are not UTF-8."""

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
import warnings

import pytest

from digitlib.params import validate_parameters
from digitlib.run.index import write_index
from digitlib.run.runner import update_index
from digitlib.rundir import RunDirectoryWarning
from test_rundir import metrics_text, trained_run, valid_metrics, write_run

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


@pytest.mark.parametrize("tampered, why", [
    ({"train_seconds": "1" + "0" * 400}, "metrics.json holds the integer 1"),  # OverflowError, formatted as a float
    ({"images": "100.0"}, "test/images: 100.0 is not of type 'integer'"),  # ValueError, in its interval
])
def test_a_run_whose_numbers_no_row_can_show_is_skipped_and_every_later_index_written(tmp_path, tampered, why):
    """Such a run failed the whole rebuild, in every later `digitlib report` (update_index warns only of what is in
    the way); it is refused when read, in one warning, and the other runs are listed."""
    trained_run(tmp_path, GOOD, "fast", 0.99)
    bad = write_run(tmp_path, "20261125-110000-bad")
    (bad / "metrics.json").write_text(metrics_text(**tampered))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        update_index(tmp_path, tmp_path / GOOD)
    skipped = [str(warning.message) for warning in caught if issubclass(warning.category, RunDirectoryWarning)]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipping {bad}: ") and why in skipped[0], skipped
    page = (tmp_path / "index.html").read_text()
    assert "1 run," in page and GOOD in page and "110000-bad" not in page


def test_a_row_that_fails_to_render_is_left_out_with_one_warning_not_the_page(tmp_path):
    """A value that reads back valid yet that no row can show (here one put past the reader) costs its row only."""
    from dataclasses import replace

    from digitlib.run.index import render_index
    from digitlib.rundir import read_runs

    trained_run(tmp_path, GOOD, "fast", 0.99)
    trained_run(tmp_path, "20261125-110000-huge", "fast", 0.98)
    trained_run(tmp_path, "20261125-120000-float", "fast", 0.97)
    good, huge, floating = sorted(read_runs(tmp_path), key=lambda run: run.run_id)
    huge = replace(huge, metrics={**huge.metrics, "training": {**huge.metrics["training"], "train_seconds": 10**400}})
    floating = replace(floating, metrics={**floating.metrics, "test": {**floating.metrics["test"], "images": 100.0}})
    with pytest.warns(RunDirectoryWarning) as caught:
        page = render_index([floating, huge, good])
    assert [str(warning.message) for warning in caught] == [
        f"skipping {floating.directory}: the index cannot show it (ValueError: correct=99.0 must be a count: a whole "
        "number, 0 or more)",
        f"skipping {huge.directory}: the index cannot show it (OverflowError: int too large to convert to float)"]
    assert "1 run," in page and [row[1] for row in rows_of(page)] == [GOOD]


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


# The index as a run browser: every kind of run, a sweep, and markup where a stranger can put it.
MARKUP = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'  # as test_browser.PAYLOAD
FAST_9S, FAST_10S, QUICK = "20261125-090000-fast9s", "20261125-100000-fast10s", "20261125-110000-quick"
PREDICTION, COMPARISON, MARKED = "20261125-120000-predict", "20261125-130000-compare", "20261125-080000-markup"
SWEEP_OF_MARKUP = "sweep-<img src=x onerror=alert(9)>"


def training_run(reports, run_id, model, *, seconds, accuracy, seed, train_limit=None, model_file=True,
                 status="succeeded", **parameters):
    """A finished training run as the runner records it (its parameters resolved), scored on 10,000 test images."""
    from digitlib.params import validate_parameters

    resolved = validate_parameters(model=model, seed=seed, train_limit=train_limit, **parameters)
    metrics = {**valid_metrics(accuracy, resolved), "model": model}
    metrics["test"].update(images=10_000, mistakes=round(10_000 * (1 - accuracy)))
    metrics["training"].update(train_seconds=seconds, epochs=resolved["epochs"],
                               train_images=train_limit or round(60_000 * (1 - resolved["validation_split"])))
    run_dir = write_run(reports, run_id, status=status, parameters=resolved, metrics=metrics, backend="tensorflow",
                        started=f"2026-11-25T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}+00:00")
    if model_file:
        (run_dir / "model.keras").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: never loaded here
    return run_dir


def browsable_reports(reports):
    """A reports folder with runs of every kind: two full trainings of fast (9 s and 10 s, seeds 1 and 2, batch sizes
    256 and 128), a quick try of seed on 6,000 images, a prediction, a sweep of the two fast runs with its comparison,
    a failed run whose data folder and error are markup, and a sweep folder whose name is markup."""
    from digitlib.params import validate_comparison_parameters, validate_prediction_parameters

    training_run(reports, FAST_9S, "fast", seconds=9.4, accuracy=0.9912, seed=1)
    training_run(reports, FAST_10S, "fast", seconds=10.2, accuracy=0.9930, seed=2, batch_size=128)
    training_run(reports, QUICK, "seed", seconds=100.0, accuracy=0.95, seed=3, train_limit=6000, epochs=4)
    write_run(reports, MARKED, status="failed", error=f"DataError: {MARKUP}", started="2026-11-25T08:00:00+00:00",
              parameters=validate_parameters(model="fast", data_dir=MARKUP))
    write_run(reports, PREDICTION, notebook_name="predict_your_digits", started="2026-11-25T12:00:00+00:00",
              parameters=validate_prediction_parameters(images="samples"), backend="tensorflow")
    runs = [str(reports / FAST_9S), str(reports / FAST_10S)]
    write_run(reports, COMPARISON, notebook_name="compare_runs", started="2026-11-25T13:00:00+00:00",
              parameters=validate_comparison_parameters(runs=runs, title="sweep ladder"), backend="tensorflow")
    (reports / COMPARISON / "report.html").write_text("the comparison")
    for name, comparison in (("sweep-ladder", COMPARISON), (SWEEP_OF_MARKUP, None)):
        (reports / name).mkdir()
        (reports / name / "sweep.json").write_text(json.dumps({"name": name[6:], "runs": [
            {"parameters": {"model": "fast", "seed": 1}, "backend": "tensorflow", "status": "succeeded",
             "run_id": FAST_9S, "test_accuracy": 0.9912},
            {"parameters": {"model": "fast", "seed": 2}, "backend": "tensorflow", "status": "skipped",
             "earlier": "succeeded", "run_id": FAST_10S, "test_accuracy": 0.993},
            {"parameters": {"model": "fast", "seed": 3}, "backend": "tensorflow", "status": "failed",
             "error": "boom"}], **({"comparison_run": comparison} if comparison else {})}))
    (reports / "sweep-ladder" / "comparison.html").symlink_to(f"../{COMPARISON}/report.html")
    return reports


def rows_of(page: str) -> list[list[str]]:
    """The table's body as the text of each cell, row by row (tags dropped, entities kept)."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]*>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def headers_of(page: str) -> list[str]:
    return re.findall(r"<th[^>]*>([^<]*)</th>", page.split("<thead>", 1)[1].split("</thead>", 1)[0])


def test_the_index_shows_each_kind_of_run_and_each_sweep_with_what_it_is(tmp_path):
    """One row per run with its kind, model, backend, seed, epochs, training images (a quick try marked), test accuracy
    with its 95% interval (Wilson's, from metrics.json's images and mistakes), time, device and status; a row per
    sweep linking its comparison, each of its runs linking it too; best and latest marked."""
    reports = browsable_reports(tmp_path / "reports")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = write_index(reports, reports / FAST_9S).read_text()
    assert headers_of(page)[:12] == ["date", "run", "kind", "model", "backend", "seed", "epochs", "training images",
                                     "test accuracy", "train time", "device", "status"]
    rows = {row[1].split()[0]: row for row in rows_of(page)}
    assert [row[1].split()[0] for row in rows_of(page)] == [  # newest first, a sweep above its comparison
        "sweep", "20261125-130000-compare", PREDICTION, QUICK, FAST_10S, FAST_9S, MARKED, "sweep"]
    assert rows[FAST_10S][2:12] == ["training", "fast", "tensorflow", "2", "12", "54,000", "99.30%99.12–99.45%",
                                    "10 s", "CPU", "succeeded"]
    assert rows[QUICK][2:12] == ["training", "seed", "tensorflow", "3", "4", "6,000 quick try", "95.00%94.56–95.41%",
                                 "100 s", "CPU", "succeeded"]
    assert rows[PREDICTION][2:12] == ["prediction", "", "tensorflow", "", "", "", "", "", "", "succeeded"]
    assert rows[COMPARISON][2] == "comparison" and rows[MARKED][8:12] == ["—", "—", "", "failed"]
    assert "6,000 <span class=\"quick\"" in page and page.count(">quick try<") == 1
    assert rows[FAST_9S][1] == f"{FAST_9S} latest sweep &lt;img src=x onerror=alert(9)&gt; sweep ladder"
    assert rows[FAST_10S][1].startswith(f"{FAST_10S} best sweep")
    assert page.count('<a href="sweep-ladder/comparison.html">') == 4  # the sweep's row, its two runs, the comparison
    assert '<a href="sweep-ladder/comparison.html">sweep ladder</a>' in page
    assert [row[11] for row in rows_of(page) if row[2] == "sweep"] == ["2 of 3 runs succeeded"] * 2
    assert "6 runs, 2 sweeps, newest first." in page


def test_the_interval_shown_is_wilsons_from_the_test_images_and_mistakes():
    from digitlib.intervals import accuracy_interval

    low, high = accuracy_interval(9930, 10_000)
    assert (f"{100 * low:.2f}", f"{100 * high:.2f}") == ("99.12", "99.45")  # as the row above shows for 99.30%


def test_only_the_parameters_that_vary_get_columns_and_the_rest_one_line(tmp_path):
    reports = browsable_reports(tmp_path / "reports")
    page = write_index(reports).read_text()
    # fast and seed differ in their recipes, the fast runs in batch size, the failed run in its data folder
    assert headers_of(page)[12:] == ["batch_size", "learning_rate", "schedule", "validation_split", "data_dir"]
    assert re.search(r'<th data-type="number">batch_size</th>', page)  # sorted as numbers
    assert re.search(r'<th data-type="text">data_dir</th>', page)
    rows = {row[1].split()[0]: row for row in rows_of(page)}
    assert rows[FAST_9S][12:] == ["256", "0.005", "one-cycle", "0.1", "None"]
    assert rows[FAST_10S][12] == "128" and rows[PREDICTION][12:] == [""] * 5  # not a parameter it takes
    shared = page.split('<details class="same">', 1)[1].split("</details>", 1)[0]
    assert "<code>test_limit</code> = None" in shared and "<code>images</code> = samples" in shared
    assert "<code>title</code> = sweep ladder" in shared and "batch_size" not in shared
    for run_id in (QUICK, PREDICTION, COMPARISON):  # one kind of run alone: nothing varies, one line says it all
        shutil.rmtree(reports / run_id)
    shutil.rmtree(reports / MARKED)
    page = write_index(reports).read_text()
    assert headers_of(page)[12:] == ["batch_size"]


def test_markup_in_a_run_or_a_sweep_folder_stays_text_and_the_policy_allows_only_the_pages_own_script(tmp_path):
    import base64
    import hashlib

    reports = browsable_reports(tmp_path / "reports")
    page = write_index(reports).read_text()
    assert "<img" not in page and "<script>alert" not in page and page.count("<script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;</td>" in page  # data_dir
    assert "sweep &lt;img src=x onerror=alert(9)&gt;</td>" in page
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)[1].replace("&#39;", "'")
    assert policy == ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                      f"base-uri 'none'; form-action 'none'; script-src 'sha256-{digest}'")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert '<p id="filter" hidden>' in page  # shown by the script: without it, the page is the table alone


def test_the_reports_keep_their_policy_without_script():
    from digitlib.run.pages import CONTENT_SECURITY_POLICY

    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_sweep_folders_are_read_as_untrusted(tmp_path):
    """A link, a file or junk named sweep-* is no sweep; a sweep.json that is a FIFO or not a sweep's record is skipped
    with a warning; a run id in it that is not a plain name is not linked."""
    from digitlib.run.index import read_sweeps

    reports = browsable_reports(tmp_path / "reports")
    (reports / "sweep-link").symlink_to(reports / "sweep-ladder")
    (reports / "sweep-file").write_text("{}")
    (reports / "sweep-fifo").mkdir()
    os.mkfifo(reports / "sweep-fifo" / "sweep.json")
    (reports / "sweep-junk").mkdir()
    (reports / "sweep-junk" / "sweep.json").write_text('{"runs": 3}')
    (reports / "sweep-bytes").mkdir()
    (reports / "sweep-bytes" / "sweep.json").write_bytes(b"\xff\xfe")
    (reports / "sweep-paths").mkdir()
    (reports / "sweep-paths" / "sweep.json").write_text(json.dumps(
        {"runs": [{"run_id": "../../etc", "status": "succeeded"}], "comparison_run": "/tmp/x"}))
    (reports / "sweep-paths" / "comparison.html").symlink_to("/etc/passwd")  # planted: not a sweep's own link
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sweeps = read_sweeps(reports)
        page = write_index(reports).read_text()
    assert sorted(sweep.name for sweep in sweeps) == ["<img src=x onerror=alert(9)>", "ladder", "paths"]
    paths = next(sweep for sweep in sweeps if sweep.name == "paths")
    assert (paths.run_ids, paths.comparison_run, paths.href, paths.succeeded) == ((), None, None, 1)
    messages = sorted(str(warning.message).split("sweep-", 1)[1] for warning in caught
                      if issubclass(warning.category, RunDirectoryWarning))
    assert messages == sorted(2 * ["bytes: sweep.json is unreadable (UnicodeDecodeError)",
                            "fifo: sweep.json is not a regular file but a FIFO; remove it",
                            "junk: sweep.json is not a sweep's record (no list of runs)"])
    assert "3 sweeps," in page and "../../etc" not in page and "sweep-paths/comparison.html" not in page


def test_latest_never_names_a_deleted_run(tmp_path):
    """reports/latest follows a new training run; when its run is deleted, the next index points it at the newest
    succeeded training run that has its model, or removes it when none is left. A link to a run still there stays."""
    reports = tmp_path / "reports"
    older = trained_run(reports, "20261125-090000-aaaaaaaa")
    newer = trained_run(reports, "20261125-100000-bbbbbbbb")
    trained_run(reports, "20261125-110000-cccccccc", model_file=False)  # newest, but its model is gone
    write_run(reports, "20261125-120000-dddddddd", status="failed")
    write_index(reports, older)  # an older run resumed to the end is the latest
    write_index(reports)
    assert os.readlink(reports / "latest") == older.name
    shutil.rmtree(older)
    write_index(reports)
    assert os.readlink(reports / "latest") == newer.name
    shutil.rmtree(newer)
    write_index(reports)
    assert not os.path.lexists(reports / "latest")
