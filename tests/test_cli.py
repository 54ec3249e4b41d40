"""`digitlib report` refuses bad input with one clear line and exit 2, and creates nothing."""

import json

import pytest

from conftest import digitlib_cli
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
    refused(digitlib_cli("report", *arguments, cwd=tmp_path), message, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_resume_stays_inside_the_reports_folder(tmp_path):
    """A folder elsewhere holding a run.json is never run, and nothing is written beside it."""
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text(json.dumps({"status": "failed", "started": "x", "notebook_name": "mnist_cnn",
                                                    "parameters": {"epochs": 1}}))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    refused(digitlib_cli("report", "--resume", "../../somewhere", cwd=work), "is not a run id", work)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "somewhere"]


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
    refused(digitlib_cli("report", "--resume", run_dir.name, cwd=tmp_path), "cannot be resumed", tmp_path)
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

    from digitlib import cli

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
        pytest.skip("this filesystem has no immutable attribute (chattr +i)")
    try:
        result = digitlib_cli("report", "-p", "epochs", "1", cwd=tmp_path)
        refused(result, "cannot create a run in the reports folder reports", tmp_path)
        assert list(reports.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(reports)])


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_report_json_sends_the_notebooks_progress_to_stderr(tmp_path, mnist_dir):
    result = digitlib_cli("report", "--json", "-p", "data_dir", mnist_dir, "-p", "train_limit", "500",
                          "-p", "test_limit", "100", "-p", "epochs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["status"] == "succeeded"  # stdout: the result alone
    assert "epoch 1/1" in result.stderr and "I0000" not in result.stderr  # progress, without TensorFlow's chatter
