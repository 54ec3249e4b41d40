"""`digitlib report` refuses bad input with one clear line and exit 2, and creates nothing."""

import json

import pytest

from conftest import digitlib_cli, digitlib_in_process, missing
from test_rundir import INJECTED_NAME


def refused(result, message: str, folder) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("digitlib: error: ") and message in lines[0], lines
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("arguments, message", [
    (["-p", "seed", "-1"], "'seed'=-1 must be between 0 and 4294967295"),
    (["-p", "seed", "1180591620717411303424"], "must be between 0 and 4294967295"),
    (["-p", "learning_rate", ".inf"], "'learning_rate' must be a finite number"),
    (["-p", "learning_rate", ".nan"], "'learning_rate' must be a finite number"),
    (["--timeout", "nan"], "--timeout must be a positive number of seconds"),
    (["--timeout", "inf"], "--timeout must be a positive number of seconds"),
    (["--resume", ""], "'' is not a run id"),
    (["--resume", "../../../../tmp"], "is not a run id"),
])
def test_bad_report_arguments_are_refused_and_create_nothing(tmp_path, arguments, message):
    refused(digitlib_in_process("report", *arguments, cwd=tmp_path), message, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_resume_stays_inside_the_reports_folder(tmp_path):
    """A folder elsewhere holding a run.json is never run, and nothing is written beside it."""
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text(json.dumps({"status": "failed", "started": "x", "notebook_name": "mnist_cnn",
                                                    "parameters": {"epochs": 1}}))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    refused(digitlib_in_process("report", "--resume", "../../somewhere", cwd=work), "is not a run id", work)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "somewhere"]


def test_resume_leaves_a_folder_where_the_notebook_goes_alone_and_says_so(tmp_path):
    run_dir = tmp_path / "reports" / "20261125-100000-aaaa"
    (run_dir / "notebook.ipynb").mkdir(parents=True)
    (run_dir / "notebook.ipynb" / "mine.txt").write_text("the user's")
    record = json.dumps({"status": "rendering", "started": "2026-11-25T10:00:00", "notebook_name": "mnist_cnn",
                         "parameters": {"epochs": 1, "train_limit": 100}})
    (run_dir / "run.json").write_text(record)
    refused(digitlib_in_process("report", "--resume", run_dir.name, cwd=tmp_path),
            "notebook.ipynb is a folder where the run's executed notebook goes; move it away", tmp_path)
    assert (run_dir / "run.json").read_text() == record and (run_dir / "notebook.ipynb" / "mine.txt").is_file()


@pytest.mark.parametrize("tamper, message", [
    ({"parameters": {INJECTED_NAME: 1}}, "unknown parameter"),
    ({"notebook_name": "../../evil"}, "unknown notebook"),
    ({"status": "ok"}, "does not match its schema at status"),
])
def test_resume_refuses_a_tampered_run_record(tmp_path, tamper, message):
    run_dir = tmp_path / "reports" / "20261125-100000-aaaa"
    run_dir.mkdir(parents=True)
    record = {"status": "failed", "started": "2026-11-25T10:00:00", "notebook_name": "mnist_cnn",
              "parameters": {"epochs": 1}}
    (run_dir / "run.json").write_text(json.dumps({**record, **tamper}))
    refused(digitlib_in_process("report", "--resume", run_dir.name, cwd=tmp_path), "cannot be resumed", tmp_path)
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [run_dir.name]


@pytest.mark.e2e
def test_resume_runs_the_projects_notebook_never_a_path_from_run_json(tmp_path):
    """run.json's `notebook` path is informative only: the notebook run is the project's own, by name."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(f"open({str(marker)!r}, 'w').write('ran')")]), evil)
    run_dir = tmp_path / "reports" / "20261125-100000-aaaa"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "status": "failed", "started": "2026-11-25T10:00:00", "notebook_name": "compare_runs",
        "notebook": str(evil), "parameters": {"runs": str(tmp_path / "no-runs-here")}}))
    result = digitlib_cli("report", "--resume", run_dir.name, cwd=tmp_path)
    assert result.returncode == 1 and "neither a run directory nor a folder of runs" in result.stderr
    assert not marker.exists()
    assert "Comparing runs" in (run_dir / "report.html").read_text()  # the project's compare_runs notebook


def test_an_unwritable_reports_folder_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """Root ignores file modes, so the refusal is injected: the folder cannot be created."""
    from pathlib import Path

    from digitlib.run import cli

    reports = tmp_path / "reports"
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self == reports:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    code = cli.main(["report", "--reports-dir", str(reports), "-p", "epochs", "1", "-p", "train_limit", "100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"digitlib: error: cannot create a run in the reports folder {reports}")
    assert "Permission denied" in err[0] and not reports.exists()


def test_an_immutable_reports_folder_is_one_line_and_exit_2(tmp_path):
    import subprocess

    reports = tmp_path / "reports"
    reports.mkdir()
    if subprocess.run(["chattr", "+i", str(reports)], capture_output=True).returncode != 0:
        missing("chattr +i: this filesystem has no immutable attribute (CI's does)")
    try:
        result = digitlib_in_process("report", "-p", "epochs", "1", cwd=tmp_path)
        refused(result, "cannot create a run in the reports folder reports", tmp_path)
        assert list(reports.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(reports)])


@pytest.mark.e2e
@pytest.mark.full  # make test: --json of a run that succeeded (below), and failed runs' exit status (test_report_e2e)
def test_report_json_is_one_object_on_stdout(tmp_path):
    result = digitlib_cli("report", "--json", "-p", "data_dir", tmp_path / "nowhere", "-p", "epochs", "1",
                          "-p", "train_limit", "100", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stdout.strip().splitlines()
    printed = json.loads(line)
    assert printed["status"] == "failed" and printed["error"].startswith("DataError: ")
    assert printed["test_accuracy"] is None
    run_dir = tmp_path / printed["run_dir"]
    assert run_dir.name == printed["run_id"] and (tmp_path / printed["report"]).is_file()


NEAR_CHANCE_METRICS = {
    "parameters": {"model": "fast", "epochs": 1, "train_limit": 3000, "learning_rate": None},
    "test": {"accuracy": 0.126, "images": 1000},
    "per_class": {str(d): {"precision": 0.126 if d == 1 else 0.0, "recall": 1.0 if d == 1 else 0.0, "f1": 0.0,
                           "support": 126 if d == 1 else 97} for d in range(10)},
    "training": {"history": {"loss": [2.29], "accuracy": [0.11]}},
}


@pytest.mark.parametrize("as_json", [False, True])
def test_a_run_that_learned_nothing_ends_with_one_warning_line_and_exit_0(tmp_path, monkeypatch, capfd, as_json):
    """1 epoch on 3,000 images: 12.6% and every digit read as 1. The run succeeded; stderr says what to change."""
    from digitlib.run import cli, runner

    run_dir = tmp_path / "reports" / "20261125-100000-aaaa"
    run_dir.mkdir(parents=True)
    monkeypatch.setattr(runner, "read_metrics", lambda directory: NEAR_CHANCE_METRICS)
    monkeypatch.setattr(runner, "run_report", lambda *args, **kwargs: runner.RunResult(run_dir, "succeeded"))
    code = cli.main(["report", "--reports-dir", str(tmp_path / "reports"), *(["--json"] if as_json else [])])
    out, err = capfd.readouterr()
    assert code == 0
    (warning,) = [line for line in err.splitlines() if line.startswith("digitlib: warning: ")]
    assert "12.6% is near chance" in warning and "every test image was read as 1" in warning
    assert "-p epochs" in warning and "train_limit is 3,000" in warning
    if as_json:
        (line,) = out.strip().splitlines()
        assert json.loads(line)["warning"] == warning.removeprefix("digitlib: warning: ")
    else:
        assert "test accuracy 12.60%; report written to" in out


def test_a_run_that_learned_has_no_warning(tmp_path, monkeypatch, capfd):
    from digitlib.run import cli, runner

    learned = {**NEAR_CHANCE_METRICS, "test": {"accuracy": 0.99, "images": 1000}, "per_class": {}}
    monkeypatch.setattr(runner, "read_metrics", lambda directory: learned)
    monkeypatch.setattr(runner, "run_report", lambda *args, **kwargs: runner.RunResult(tmp_path, "succeeded"))
    assert cli.main(["report", "--json"]) == 0
    out, err = capfd.readouterr()
    assert "warning" not in err and json.loads(out)["warning"] is None


@pytest.mark.e2e
@pytest.mark.full  # make test: the warning's text and exit status in this process (above), in HTML (test_headline),
# and --json's stdout and stderr on a real run (test_tracking)
def test_a_tiny_run_warns_in_its_report_and_on_stderr_and_json_keeps_stdout_to_the_result(tmp_path, mnist_dir):
    """The whole path: a run too short to learn says so under the report's title and in one stderr line; with
    --json, stdout holds the result alone and the notebook's progress goes to stderr."""
    result = digitlib_cli("report", "--json", "-p", "data_dir", mnist_dir, "-p", "train_limit", "500",
                          "-p", "test_limit", "100", "-p", "epochs", "1", "-p", "learning_rate", "0.00001",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout)  # one object, nothing else
    assert printed["status"] == "succeeded"
    assert "epoch 1/1" in result.stderr and "I0000" not in result.stderr  # progress, without TensorFlow's chatter
    warnings = [line for line in result.stderr.splitlines() if line.startswith("digitlib: warning: ")]
    assert printed["test_accuracy"] < 0.5 and printed["warning"] and "near chance" in printed["warning"]
    assert warnings == [f"digitlib: warning: {printed['warning']}"]
    html = (tmp_path / printed["report"]).read_text()
    assert "near chance" in html and html.index("near chance") < html.index('id="Downloading-the-MNIST-data"')


TRAIN_FIRST = "run `make report` (or `digitlib report`) first"


@pytest.mark.parametrize("where", ["../reports/latest/model.keras", "elsewhere/model.keras", "/nowhere/m.keras"])
def test_a_missing_model_says_to_train_one_first_whatever_its_path(tmp_path, where):
    from digitlib.modelfile import ModelError, load_trained_model

    with pytest.raises(ModelError, match=r"model file not found: .*make report.*digitlib report") as error:
        load_trained_model(tmp_path / where if not where.startswith("/") else where)
    assert TRAIN_FIRST in str(error.value) and "--model" in str(error.value) and "model_path" in str(error.value)


def test_a_run_folder_names_the_model_it_saved_and_any_other_path_itself(tmp_path):
    from digitlib.modelfile import model_file

    (tmp_path / "run").mkdir()
    assert model_file(tmp_path / "run") == tmp_path / "run" / "model.keras"  # saved or not: load says which
    assert model_file(str(tmp_path / "run" / "model.keras")) == tmp_path / "run" / "model.keras"
    assert model_file(tmp_path / "elsewhere.keras") == tmp_path / "elsewhere.keras"


def test_a_name_too_long_to_look_at_is_one_line_and_exit_2_not_a_traceback(tmp_path):
    too_long = "a" * 300
    model = digitlib_in_process("predict", str(tmp_path / "one.png"), "--model", str(tmp_path / f"{too_long}.keras"))
    assert (model.returncode, model.stdout) == (2, "")
    assert model.stderr == f"digitlib: error: {tmp_path / too_long}.keras: cannot look at it (File name too long)\n"
    compare = digitlib_in_process("compare", too_long, "best", "--reports-dir", str(tmp_path))
    assert (compare.returncode, compare.stderr) == (2, f"digitlib: error: {too_long}: cannot look at it (File name "
                                                       "too long)\n")
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", [lambda folder: folder.mkdir(), lambda folder: None], ids=["empty", "missing"])
def test_no_finished_runs_to_compare_says_to_train_one_first(tmp_path, make):
    from digitlib.report.comparison import load_runs

    make(tmp_path / "reports")
    with pytest.raises(ValueError, match="make report") as error:
        load_runs(tmp_path / "reports")
    assert TRAIN_FIRST in str(error.value)


@pytest.mark.e2e
@pytest.mark.full  # make test: the same messages from load_trained_model and load_runs, in this process (above)
@pytest.mark.parametrize("notebook, parameter, message", [
    ("predict_your_digits", ["model_path", "reports/latest/model.keras"], "model file not found: "),
    ("compare_runs", ["runs", "reports"], "no finished training runs in "),
])
def test_notebooks_with_no_finished_run_say_what_to_run_first(tmp_path, notebook, parameter, message):
    """In a folder whose reports/ holds no finished training run (only the run being made)."""
    result = digitlib_cli("report", "--notebook", notebook, "-p", *parameter, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("digitlib: run ")]
    assert message in line and TRAIN_FIRST in line and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_predict_piped_into_a_reader_that_stops_early_ends_quietly_with_status_141(report_run, tmp_path):
    """Issue #22 case 18: `digitlib predict DIR | head -1` ended in a BrokenPipeError traceback and exit 1. The
    reader takes one line and closes its end; predict stops there as cat or seq would (128 + SIGPIPE), silently."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    images = tmp_path / "digits"
    images.mkdir()
    Image.fromarray(255 - np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))).save(images / "one.png")
    # Long names, so that the lines overflow the pipe's 64 KiB: predict then waits on a full pipe until the reader
    # closes it, and its next line meets a closed pipe whatever the timing.
    for number in range(400):
        (images / f"{number:03d}_{'x' * 200}.png").write_bytes((images / "one.png").read_bytes())
    command = subprocess.Popen([sys.executable, "-m", "digitlib", "predict", images, "--model",
                                report_run / "model.keras"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = command.stdout.readline()  # as `head -1` does
    command.stdout.close()
    stderr = command.stderr.read().decode()
    assert command.wait(timeout=120) == 141, stderr
    assert first.decode().startswith(f"{images / '000_'}") and "Traceback" not in stderr and stderr == "", stderr


def test_compare_refuses_what_is_not_two_finished_training_runs_and_creates_nothing(tmp_path):
    """`digitlib compare RUN RUN ...`: an unknown run id, a folder that is not a run, an unfinished or a prediction
    run, or fewer than two runs is one line and exit 2, with nothing created in the reports folder."""
    from test_comparison import fake_run, outcomes
    from test_rundir import write_run

    reports = tmp_path / "reports"
    fake_run(reports, "good", outcomes(100, [1]), seed=1)
    write_run(reports, "unfinished", status="failed")
    write_run(reports, "reading", notebook_name="predict_your_digits", parameters={})
    (tmp_path / "not-a-run").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for arguments, message in [
        (["good", "nope"], "no run 'nope' in reports, nor a run folder by that name"),
        (["good", "not-a-run"], "not-a-run is not a run folder (it holds no run.json)"),
        (["good", "unfinished"], "has not finished (status: failed): compare finished runs"),
        (["good", "reading"], "is a prediction run, not a training run"),
        (["good"], "compare needs two finished runs or more, got 1 (name at least two)"),
        (["good", "reports/good"], "got 1 (the same run twice)"),
        ([], "compare needs two finished runs or more, got 0"),
        (["good", "latest"], "no run 'latest' in reports"),
    ]:
        refused(digitlib_in_process("compare", *arguments, cwd=tmp_path), message, tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    refused(digitlib_in_process("compare", "good", "good", "--reports-dir", "elsewhere", cwd=tmp_path),
            "no run 'good' in elsewhere", tmp_path)
    assert not (tmp_path / "elsewhere").exists()
    (reports / "best").symlink_to("good")  # the reports folder's own links name the run they point at
    (reports / "latest").symlink_to("../not-a-run")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(digitlib_in_process("compare", "best", "good", cwd=tmp_path), "got 1 (the same run twice)", tmp_path)
    refused(digitlib_in_process("compare", "good", "latest", cwd=tmp_path), "points at ../not-a-run, not a run",
            tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
