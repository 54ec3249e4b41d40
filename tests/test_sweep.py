"""Sweep files are checked before anything runs; a smoke sweep runs, reports its failure, and resumes."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPOSITORY, digitlib_cli, digitlib_in_process
from digitlib.models import model_spec
from digitlib.params import ParameterError
from digitlib.run.sweep import Sweep, load_sweep


def write(tmp_path, text):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_a_grid_is_every_combination(tmp_path):
    sweep = load_sweep(write(tmp_path, "name: g\ncommon: {train_limit: 100}\ngrid:\n  model: [fast, seed]\n"
                                       "  epochs: [1, 2, 3]\n"))
    assert sweep.name == "g" and len(sweep.parameter_sets) == 6
    assert {(p["model"], p["epochs"]) for p in sweep.parameter_sets} == {
        (m, e) for m in ("fast", "seed") for e in (1, 2, 3)}
    assert all(p["train_limit"] == 100 for p in sweep.parameter_sets)
    assert sweep.parameter_sets[0]["batch_size"] == 256  # recipes resolved per model


def test_the_shipped_sweeps_are_valid():
    ladder = load_sweep(REPOSITORY / "sweeps" / "ladder.yaml")
    assert [p["model"] for p in ladder.parameter_sets] == ["seed", "keras-example", "fast", "strong", "ensemble"]
    assert ladder.parameter_sets[-1]["members"] == 3 and ladder.parameter_sets[-2]["members"] is None
    assert len(load_sweep(REPOSITORY / "sweeps" / "smoke.yaml").parameter_sets) == 2
    accuracy = load_sweep(REPOSITORY / "sweeps" / "accuracy.yaml").parameter_sets
    assert sorted(p["seed"] for p in accuracy if p["model"] == "strong") == [0, 1, 2]
    assert [(p["members"], p["seed"]) for p in accuracy if p["model"] == "ensemble"] == [(5, 0)]


@pytest.mark.parametrize("text, message", [
    ("runs:\n  - model: fast\n  - model: seed\n    epoch: 3\n", r"sweep.yaml:4: unknown parameter 'epoch'"),
    ("runs:\n  - model: fast\n    epochs: ten\n", r"sweep.yaml:3: parameter 'epochs' must be int or None"),
    ("common:\n  batch_size: 0\nruns:\n  - model: fast\n",
     r"sweep.yaml:2: parameter 'batch_size'=0 must be at least 1"),
    ("grid:\n  model: [fast, resnet]\n", r"sweep.yaml:2: parameter 'model'='resnet' unknown model"),
    ("runs:\n  - {model: ensemble, members: 3}\n  - model: fast\n    members: 3\n",
     r"sweep.yaml:4: parameter 'members' applies only to model 'ensemble'"),
    ("grid: {}\n", r"sweep.yaml:1: the grid is empty"),
    ("grid:\n  epochs: []\n", r"sweep.yaml:1: the grid is empty"),
    ("runs: []\n", r"sweep.yaml:1: 'runs' must be a non-empty list"),
    ("name: x\ngrids:\n  epochs: [1]\n", r"sweep.yaml:2: unknown key 'grids'"),
    ("grid:\n  epochs: [1]\nruns:\n  - {}\n", "give either 'grid' or 'runs'"),
    ("runs:\n  - model: fast\n    epochs: 1\n    epochs: 2\n", r"duplicate key 'epochs' at \S*sweep.yaml:4"),
    ("common: {seed: 1}\nruns:\n  - {model: fast}\ncommon: {seed: 2}\n", r"duplicate key 'common' at \S*sweep.yaml:4"),
    ("grid:\n  model: [fast]\n  seed: [1, 2]\n  model: [seed]\n", r"duplicate key 'model' at \S*sweep.yaml:4"),
])
def test_bad_sweep_files_name_the_line_and_key(tmp_path, text, message):
    with pytest.raises(ParameterError, match=message):
        load_sweep(write(tmp_path, text))


@pytest.mark.parametrize("name", ["../escape", "a/b", "/tmp/abs", "..", "", ".hidden", "x" * 101, "a b", None, [1]])
def test_a_sweep_name_must_be_a_plain_name(tmp_path, name):
    with pytest.raises(ParameterError, match=r"sweep.yaml:2: the sweep name .* is not a plain name: use up to 100 "):
        load_sweep(write(tmp_path, f"runs: [{{model: fast}}]\nname: {json.dumps(name)}\n"))


def test_plain_names_are_kept_and_the_file_name_made_plain(tmp_path):
    assert load_sweep(write(tmp_path, "name: ladder-2.b_3\nruns: [{}]\n")).name == "ladder-2.b_3"
    assert load_sweep(write(tmp_path, "name: 2024\nruns: [{}]\n")).name == "2024"
    (tmp_path / "..my sweep (v2).yaml").write_text("runs: [{}]\n")
    assert load_sweep(tmp_path / "..my sweep (v2).yaml").name == "my-sweep-v2"


def test_the_cli_refuses_a_sweep_name_outside_reports_before_running_anything(tmp_path):
    (tmp_path / "work").mkdir()
    sweep = write(tmp_path / "work", "name: ../../escaped\nruns:\n  - {model: fast, data_dir: /nonexistent/mnist}\n")
    result = digitlib_in_process("sweep", sweep, cwd=tmp_path / "work")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("digitlib: error: ")
    assert "sweep.yaml:1: the sweep name '../../escaped' is not a plain name" in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sweep.yaml", "work"]


def test_the_cli_refuses_a_bad_sweep_before_running_anything(tmp_path):
    result = digitlib_in_process("sweep", write(tmp_path, "runs:\n  - {model: fast, epoch: 3}\n"), cwd=tmp_path)
    assert result.returncode == 2 and "sweep.yaml:2: unknown parameter 'epoch'" in result.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.e2e
def test_smoke_sweep_reports_the_failure_and_resumes_without_rerunning(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITLIB_DATA_DIR", str(mnist_dir))
    smoke = REPOSITORY / "sweeps" / "smoke.yaml"
    first = digitlib_cli("sweep", smoke, "--jobs", "2", cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-2000:]
    assert re.search(r"^seed \(epochs 1, seed 42\): succeeded, test accuracy \d+\.\d+%", first.stdout, re.M)
    assert re.search(r"^fast \(epochs 1, seed 42\): failed \(digitlib: run \S+ failed: DataError", first.stdout, re.M)
    assert "2 runs, 2 executed and 0 already finished earlier; 1 failed" in first.stdout
    comparison = tmp_path / "reports" / "sweep-smoke" / "comparison.html"
    assert first.stdout.strip().endswith("comparison written to reports/sweep-smoke/comparison.html")
    html = comparison.read_text()  # through the link, as a browser opens it
    for heading in ["The runs, best first", "Accuracy against training time", "Per-digit accuracy",
                    "Learning curves", "Digits every model gets wrong"]:
        assert heading in html, heading
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 4
    runs = sorted(p.name for p in (tmp_path / "reports").iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("sweep-"))
    assert len(runs) == 3  # two training runs and the comparison
    statuses = sorted(json.loads((tmp_path / "reports" / r / "run.json").read_text())["status"] for r in runs)
    assert statuses == ["failed", "succeeded", "succeeded"]

    again = digitlib_cli("sweep", smoke, cwd=tmp_path)
    assert again.returncode == 1
    assert "2 runs, 0 executed and 2 already finished earlier" in again.stdout
    training = [r for r in sorted(p.name for p in (tmp_path / "reports").iterdir()
                                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("sweep-"))]
    assert len(training) == 4 and set(runs) < set(training)  # only a fresh comparison was added


def test_runs_made_before_a_parameter_existed_still_count_as_done(tmp_path):
    from digitlib.params import validate_parameters
    from digitlib.run.sweep import earlier_runs
    from digitlib.rundir import run_identity

    parameters = validate_parameters(model="seed", seed=1)  # version 1, as in November
    older = {name: value for name, value in parameters.items() if name != "members"}  # before `members` existed
    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / "run.json").write_text(json.dumps(
        {"run_id": "old-run", "status": "succeeded", "started": "2026-11-25T10:00:00", "parameters": older}))
    assert earlier_runs(tmp_path)[run_identity(parameters)].run_id == "old-run"


def run_directories(reports):
    return sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())


@pytest.mark.e2e
def test_sigterm_interrupts_the_running_run_and_starts_no_more(tmp_path, mnist_dir):
    write(tmp_path, "name: stop\ncommon: {model: fast, train_limit: 500, test_limit: 200, epochs: 1}\n"
                    "grid:\n  seed: [0, 1, 2]\n")
    sweep = subprocess.Popen([sys.executable, "-m", "digitlib", "sweep", "sweep.yaml", "--jobs", "1"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "DIGITLIB_DATA_DIR": str(mnist_dir)}, start_new_session=True)
    reports = tmp_path / "reports"
    try:
        deadline = time.monotonic() + 120
        while not list(reports.glob("*/run.json")):  # the first run has started
            assert sweep.poll() is None and time.monotonic() < deadline, "the first run never started"
            time.sleep(0.05)
        sweep.send_signal(signal.SIGTERM)
        _, stderr = sweep.communicate(timeout=60)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 130, stderr[-3000:]
    assert stderr.splitlines()[-1] == ("digitlib: sweep stop stopped: 1 run interrupted, 2 not started; run "
                                       "`digitlib sweep sweep.yaml` again to resume (interrupted runs continue, "
                                       "finished ones are skipped)")
    [run] = run_directories(reports)  # nothing else was started
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and record["parameters"]["seed"] == 0


def test_a_sweep_of_more_than_100_runs_needs_yes(tmp_path):
    from digitlib.run.sweep import check_sweep_size

    sweep = load_sweep(write(tmp_path, "grid:\n  seed: [" + ", ".join(map(str, range(101))) + "]\n"))
    with pytest.raises(ParameterError, match=r"the sweep sweep has 101 runs, roughly \d+(\.\d)? hours of "
                                             r"training on 2 CPU cores; if that is what you want, add --yes"):
        check_sweep_size(sweep, allow_large=False)
    check_sweep_size(sweep, allow_large=True)
    check_sweep_size(Sweep(sweep.name, sweep.parameter_sets[:100]), allow_large=False)

    refused = digitlib_in_process("sweep", "sweep.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith("digitlib: error: the sweep sweep has 101 runs")
    assert not (tmp_path / "reports").exists()


def test_yes_lets_a_large_sweep_through(tmp_path):
    sweep = load_sweep(write(tmp_path, "grid:\n  seed: [" + ", ".join(map(str, range(101))) + "]\n"))
    for number, parameters in enumerate(sweep.parameter_sets):  # all done before, so nothing trains now
        (tmp_path / "reports" / f"run-{number}").mkdir(parents=True)
        (tmp_path / "reports" / f"run-{number}" / "run.json").write_text(json.dumps(
            {"run_id": f"run-{number}", "status": "failed", "started": "2026-01-01T00:00:00",
             "parameters": parameters, "model_version": model_spec(parameters["model"]).version}))
    result = digitlib_in_process("sweep", "sweep.yaml", "--yes", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "sweep sweep: 101 runs, 0 executed and 101 already finished earlier; 101 failed" in result.stdout


def test_a_run_may_name_its_backend_anywhere_a_parameter_goes(tmp_path):
    sweep = load_sweep(write(tmp_path, "common: {backend: jax}\nruns:\n  - {model: fast}\n"
                                       "  - {model: fast, backend: tensorflow}\n  - {model: seed}\n"))
    assert sweep.backends == ("jax", "tensorflow", "jax") and sweep.names_backends
    assert all("backend" not in parameters for parameters in sweep.parameter_sets)
    grid = load_sweep(write(tmp_path, "grid:\n  backend: [tensorflow, jax]\n  seed: [1, 2]\n"))
    assert sorted(grid.backends) == ["jax", "jax", "tensorflow", "tensorflow"]
    plain = load_sweep(write(tmp_path, "runs: [{model: fast}]\n"))
    assert plain.backends == (None,) and not plain.names_backends


@pytest.mark.parametrize("text, line", [
    ("runs:\n  - model: fast\n    backend: torch\n", 3),
    ("common:\n  backend: null\nruns:\n  - model: fast\n", 2),
    ("grid:\n  seed: [1]\n  backend: [jax, TensorFlow]\n", 3),
])
def test_an_unknown_backend_names_its_line(tmp_path, text, line):
    with pytest.raises(ParameterError, match=rf"sweep.yaml:{line}: unknown Keras backend .*; choose one of: "
                                             "tensorflow, jax"):
        load_sweep(write(tmp_path, text))


def test_the_backend_is_part_of_what_a_sweep_skips(tmp_path):
    from digitlib.run.sweep import plan_sweep

    sweep = load_sweep(write(tmp_path, "grid:\n  backend: [tensorflow, jax]\n  model: [fast]\n"))
    tensorflow = sweep.parameter_sets[sweep.backends.index("tensorflow")]
    (tmp_path / "reports" / "tf-run").mkdir(parents=True)
    (tmp_path / "reports" / "tf-run" / "run.json").write_text(json.dumps(
        {"run_id": "tf-run", "status": "succeeded", "started": "2026-01-01T00:00:00", "parameters": tensorflow,
         "backend": "tensorflow", "model_version": model_spec("fast").version}))
    skipped, pending = plan_sweep(sweep, tmp_path / "reports")
    assert [(o.backend, o.run_id) for o in skipped] == [("tensorflow", "tf-run")]
    assert [(run.backend, run.resume) for run in pending] == [("jax", None)]


@pytest.mark.e2e
@pytest.mark.full  # make test: the backend is part of what a sweep skips (above); a JAX report (the 3.12 smoke)
def test_a_sweep_runs_the_same_parameters_on_both_backends_and_skips_both_again(tmp_path):
    # Runs that fail at once (no data there) are finished runs too: this checks the backend, not training.
    write(tmp_path, "name: backends\ncommon: {model: fast, train_limit: 200, test_limit: 100, epochs: 1, "
                    "data_dir: /nonexistent/mnist}\ngrid:\n  backend: [tensorflow, jax]\n")
    first = digitlib_cli("sweep", "sweep.yaml", "--jobs", "2", "--json", cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-2000:]
    outcome = json.loads(first.stdout)
    assert sorted((run["backend"], run["status"]) for run in outcome["runs"]) == [
        ("jax", "failed"), ("tensorflow", "failed")]
    assert re.search(r"^fast \(epochs 1, seed 42, jax\): failed \(digitlib: run \S+ failed: DataError", first.stderr,
                     re.M)
    records = [json.loads(path.read_text()) for path in (tmp_path / "reports").glob("*/run.json")]
    assert sorted(record["backend"] for record in records) == ["jax", "tensorflow"]

    again = digitlib_cli("sweep", "sweep.yaml", cwd=tmp_path)
    assert again.returncode == 1 and "2 runs, 0 executed and 2 already finished earlier" in again.stdout
    assert len(list((tmp_path / "reports").glob("*/run.json"))) == 2


@pytest.mark.parametrize("written", ["010", "0x1F", "1e3", "1_000", "yes"])
def test_a_sweep_name_is_taken_as_written_not_as_yaml_reads_a_number(tmp_path, written):
    assert load_sweep(write(tmp_path, f"name: {written}\nruns:\n  - {{model: seed}}\n")).name == written


@pytest.mark.e2e
@pytest.mark.full  # make test: SIGTERM of a sweep (above) and kill -9 of a run (test_trustworthy)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP], ids=["kill-9", "terminal-closed"])
def test_a_sweep_killed_or_hung_up_leaves_its_run_resumable_not_failed(tmp_path, mnist_dir, how):
    """kill -9 of the sweep (its run notices its parent is gone) or SIGHUP (a closed terminal or SSH session): the
    running run ends interrupted, so the next sweep resumes it, and no temporary file is left behind."""
    from digitlib.run.sweep import plan_sweep

    write(tmp_path, "name: orphan\ncommon: {model: fast, train_limit: 2000, test_limit: 200, epochs: 3}\n"
                    "grid:\n  seed: [0]\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    sweep = subprocess.Popen([sys.executable, "-m", "digitlib", "sweep", "sweep.yaml"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "DIGITLIB_DATA_DIR": str(mnist_dir), "TMPDIR": str(scratch)},
                             # a sweep from a terminal: SIGHUP as it comes, even where pytest itself runs under
                             # nohup (which a sweep honours: it keeps an ignored SIGHUP ignored)
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    reports = tmp_path / "reports"
    try:
        deadline = time.monotonic() + 120
        while not list(reports.glob("*/checkpoint.json")):  # the run trains: it finished its first epoch
            assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()[1][-3000:]
            time.sleep(0.05)
        sweep.send_signal(how)
        sweep.communicate(timeout=60)
        [run] = run_directories(reports)
        deadline = time.monotonic() + 60
        while (record := json.loads((run / "run.json").read_text()))["status"] in ("running", "rendering"):
            assert time.monotonic() < deadline, "the orphaned run is still running"
            time.sleep(0.2)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert record["status"] == "interrupted", record
    _, pending = plan_sweep(load_sweep(tmp_path / "sweep.yaml"), reports)
    assert [planned.resume for planned in pending] == [run.name]  # resumed by the next sweep, not skipped as failed
    assert not [path for path in scratch.rglob("*") if path.suffix == ".yaml"]  # no parameters file left


def test_an_outcome_holds_only_the_fields_that_apply_in_the_order_json_has_them(tmp_path):
    from digitlib.params import validate_parameters
    from digitlib.run.sweep import Outcome, plan_sweep, report_outcome, started_outcome

    sweep = load_sweep(write(tmp_path, "runs:\n  - {model: fast}\n  - {model: seed}\n"))
    fast = sweep.parameter_sets[0]
    (tmp_path / "reports" / "done").mkdir(parents=True)
    (tmp_path / "reports" / "done" / "run.json").write_text(json.dumps(
        {"run_id": "done", "status": "failed", "started": "2026-01-01T00:00:00", "parameters": fast,
         "model_version": model_spec("fast").version}))
    [skipped], [planned] = plan_sweep(sweep, tmp_path / "reports")
    assert list(skipped.as_dict()) == ["parameters", "backend", "status", "run_id", "earlier"]
    assert skipped.failed and not skipped.succeeded and skipped.status == "skipped"

    def printed(stdout, returncode=0, stderr=""):
        return started_outcome(planned, report_outcome(subprocess.CompletedProcess([], returncode, stdout, stderr)))

    succeeded = printed('{"status": "succeeded", "run_id": "r1", "test_accuracy": 0.97}\n')
    assert succeeded.as_dict() == {"parameters": planned.parameters, "backend": planned.backend,
                                   "status": "succeeded", "run_id": "r1", "test_accuracy": 0.97}
    assert succeeded.succeeded and not succeeded.failed
    failed = printed('{"status": "failed", "run_id": "r2", "error": "DataError: none"}\n', 1)
    assert list(failed.as_dict()) == ["parameters", "backend", "status", "run_id", "error"]
    assert failed.error == "digitlib: run r2 failed: DataError: none"
    refused = printed("", 2, "usage: ...\ndigitlib: error: bad\n")  # no run made
    assert list(refused.as_dict()) == ["parameters", "backend", "status", "error"] and refused.run_id is None
    worker = Outcome(validate_parameters(), "jax", "failed", run_id="r3", error="", worker="tcp://w:1", shared=False)
    assert worker.as_dict()["error"] == "" and worker.as_dict()["shared"] is False  # empty and false are values
    assert list(worker.as_dict()) == ["parameters", "backend", "status", "run_id", "error", "worker", "shared"]


class ListTransport:
    """Runs that finish at once, in the order given; Ctrl-C after `interrupt_after` of them."""

    def __init__(self, results, interrupt_after=None):
        self.results, self.interrupt_after, self.submitted, self.stopped = results, interrupt_after, [], None

    def submit(self, run):
        self.submitted.append(run)
        return len(self.submitted) - 1

    def finished(self, futures):
        for count, future in enumerate(futures):
            if count == self.interrupt_after:
                raise KeyboardInterrupt
            yield future

    def outcome(self, future, run):
        from digitlib.run.sweep import started_outcome

        return started_outcome(run, self.results[future])

    def stop(self, futures):
        self.stopped = list(futures)
        return 1, len(futures) - self.interrupt_after - 1, 0


class Tracker:
    def __init__(self):
        self.logged = []

    def log_run(self, run_dir, announce=True):
        self.logged.append(run_dir.name)


def test_one_drive_loop_prints_tracks_and_stops_whatever_runs_the_runs(tmp_path, capsys):
    import io

    from digitlib.run.sweep import Outcome, PlannedRun, SweepInterrupted, describe_outcome, drive_sweep

    sweep = load_sweep(write(tmp_path, "name: d\ngrid:\n  seed: [0, 1, 2, 3]\n"))
    parameters = sweep.parameter_sets
    skipped = [Outcome(parameters[0], "tensorflow", "skipped", run_id="old", earlier="succeeded")]
    pending = [PlannedRun(p, "tensorflow") for p in parameters[1:]]
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "run.json").write_text("{}")
    results = [{"status": "succeeded", "run_id": "r1", "test_accuracy": 0.9},
               {"status": "failed", "run_id": "gone", "error": "digitlib: run gone failed: X"},
               {"status": "failed", "error": "no run"}]
    log, tracker = io.StringIO(), Tracker()
    outcomes = drive_sweep(sweep, skipped, pending, ListTransport(results), tmp_path, log, tracker)
    assert [o.status for o in outcomes] == ["skipped", "succeeded", "failed", "failed"]
    assert log.getvalue().splitlines() == [describe_outcome(o) for o in outcomes]
    assert log.getvalue().splitlines()[:2] == [
        "fast (epochs 12, seed 0): already succeeded (old), not run again",
        "fast (epochs 12, seed 1): succeeded, test accuracy 90.00% (r1)"]
    assert tracker.logged == ["r1"]  # only a run whose folder is there
    assert "d: 100%" in capsys.readouterr().err  # the bar

    transport = ListTransport(results, interrupt_after=1)
    with pytest.raises(SweepInterrupted, match="1 run interrupted, 1 not started") as stopped:
        drive_sweep(sweep, skipped, pending, transport, tmp_path, io.StringIO())
    assert transport.stopped == [0, 1, 2] and (stopped.value.interrupted, stopped.value.not_started) == (1, 1)

    class CtrlCWhileSubmitting(ListTransport):
        def submit(self, run):
            if len(self.submitted) == 1:
                raise KeyboardInterrupt
            return super().submit(run)

    transport = CtrlCWhileSubmitting(results, interrupt_after=0)
    with pytest.raises(SweepInterrupted, match="1 run interrupted, 2 not started"):  # one never submitted
        drive_sweep(sweep, skipped, pending, transport, tmp_path, io.StringIO())
    assert transport.stopped == [0]


def test_a_sweep_estimate_reads_each_models_minutes_per_epoch(monkeypatch):
    from dataclasses import replace

    from digitlib import models
    from digitlib.params import validate_parameters
    from digitlib.run.sweep import MINUTES_PER_RUN, estimated_minutes

    fast = validate_parameters(model="fast", epochs=2, train_limit=30_000)
    assert estimated_minutes(fast) == pytest.approx(MINUTES_PER_RUN + 2 * model_spec("fast").minutes_per_epoch / 2)
    ensemble = validate_parameters(model="ensemble", members=4, epochs=1)
    assert estimated_minutes(ensemble) == pytest.approx(MINUTES_PER_RUN + 4 * model_spec("ensemble").minutes_per_epoch)
    monkeypatch.setitem(models.MODELS, "fast", replace(model_spec("fast"), minutes_per_epoch=10.0))
    assert estimated_minutes(fast) == pytest.approx(MINUTES_PER_RUN + 10.0)


def test_a_grid_too_large_to_run_is_refused_before_it_is_built(tmp_path):
    values = "[" + ", ".join(map(str, range(100))) + "]"
    bomb = write(tmp_path, "grid:\n" + "".join(f"  k{key}: {values}\n" for key in range(100)))  # 10**200 runs
    started = time.monotonic()
    with pytest.raises(ParameterError, match=r"^\S*sweep.yaml:1: the grid makes about 10\^200 runs, more than "
                                             r"the 10,000 a sweep may have, even with --yes; split it into smaller "
                                             r"sweeps$"):
        load_sweep(bomb)
    assert time.monotonic() - started < 1
    with pytest.raises(ParameterError, match=r"sweep.yaml:2: the grid makes 10,100 runs, more than the 10,000"):
        load_sweep(write(tmp_path, f"name: x\ngrid:\n  seed: {values}\n  epochs: [" + ", ".join(
            map(str, range(1, 102))) + "]\n"))
    with pytest.raises(ParameterError, match=r"sweep.yaml:1: 10,001 runs are more than the 10,000 a sweep may have"):
        load_sweep(write(tmp_path, "runs:\n" + "  - {}\n" * 10_001))

    write(tmp_path, "grid:\n" + "".join(f"  k{key}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" for key in range(12)))
    started = time.monotonic()
    refused = digitlib_in_process("sweep", "sweep.yaml", "--yes", cwd=tmp_path)
    assert time.monotonic() - started < 5
    assert refused.returncode == 2 and refused.stderr == (
        "digitlib: error: sweep.yaml:1: the grid makes 1,000,000,000,000 runs, more than the 10,000 a sweep may "
        "have, even with --yes; split it into smaller sweeps\n")
    assert not (tmp_path / "reports").exists()


def test_a_count_too_large_for_the_time_estimate_is_refused_with_its_line(tmp_path):
    with pytest.raises(ParameterError, match=r"sweep.yaml:1: parameter 'epochs'=10+\.\.\.0+ must be at most "):
        load_sweep(write(tmp_path, f"common: {{epochs: {10**400}}}\ngrid:\n  seed: [" + ", ".join(
            map(str, range(101))) + "]\n"))


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_sweep_folder_that_is_a_link_or_a_file_is_refused_before_anything_runs(tmp_path, kind):
    write(tmp_path, "runs:\n  - {model: fast, train_limit: 100, data_dir: /nonexistent/mnist}\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "elsewhere").mkdir()
    folder = tmp_path / "reports" / "sweep-sweep"
    if kind == "link":
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        folder.write_text("a note of the user's\n")
    result = digitlib_in_process("sweep", "sweep.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == (f"digitlib: error: reports/sweep-sweep is a {kind}, not a folder; move it away: sweep "
                             "sweep keeps its sweep.json and comparison there\n")
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["sweep-sweep"]  # no run started
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_run_listed_twice_and_a_reports_folder_that_is_a_file_are_refused_before_anything_runs(tmp_path):
    """seed: [0, 0] would train one run twice, or resume one interrupted run in two processes at once; a file given
    as --reports-dir was a FileExistsError traceback."""
    write(tmp_path, "grid:\n  seed: [0, 0]\n  data_dir: [/nonexistent/mnist]\n")
    result = digitlib_in_process("sweep", "sweep.yaml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "digitlib: error: sweep sweep: runs 1 and 2 are the same run (the "
                                                     f"same parameters on {result.stderr.split(' on ')[-1]}")
    assert result.stderr.endswith("); list each run once\n") and not (tmp_path / "reports").exists()
    write(tmp_path, "runs:\n  - {seed: 1, data_dir: /nonexistent/mnist}\n")
    (tmp_path / "a file").write_text("the user's")
    result = digitlib_in_process("sweep", "sweep.yaml", "--reports-dir", "a file", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "digitlib: error: the reports folder a file is a file, not a "
                                                     "folder; choose another with --reports-dir\n")
    assert (tmp_path / "a file").read_text() == "the user's"


def _a_sweep_whose_comparison_ends(tmp_path, monkeypatch, status, error=None):
    """A sweep of one succeeded run, run_report faked to end its comparison with `status`, and its calls."""
    from digitlib.run import runner
    from digitlib.run.sweep import Outcome

    sweep = load_sweep(write(tmp_path, "name: d\nruns:\n  - {seed: 1}\n"))
    reports, calls = tmp_path / "reports", []
    (reports / "comparison-run").mkdir(parents=True)
    monkeypatch.setattr(runner, "run_report", lambda *arguments, **options: calls.append(arguments) or runner.RunResult(
        reports / "comparison-run", status, error))
    return sweep, [Outcome(sweep.parameter_sets[0], "tensorflow", "succeeded", run_id="r1", test_accuracy=0.9)], calls


def test_a_failed_comparison_is_one_line(tmp_path, monkeypatch):
    from digitlib.run.sweep import ComparisonFailed, render_comparison

    sweep, outcomes, _ = _a_sweep_whose_comparison_ends(tmp_path, monkeypatch, "failed", "ValueError: no\nsecond line")
    with pytest.raises(ComparisonFailed, match=r"^the comparison of sweep d failed: ValueError: no\\nsecond line "
                                               r"\(see \S*comparison-run/report.html\)$"):
        render_comparison(sweep, outcomes, tmp_path / "reports")
    assert not (tmp_path / "reports" / "sweep-d").exists()


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_comparison_is_never_recorded_through_a_link_or_over_a_file(tmp_path, monkeypatch, kind):
    from digitlib.run.sweep import ComparisonFailed, render_comparison

    sweep, outcomes, calls = _a_sweep_whose_comparison_ends(tmp_path, monkeypatch, "succeeded")
    (tmp_path / "elsewhere").mkdir()
    folder = tmp_path / "reports" / "sweep-d"  # made while the sweep ran
    if kind == "link":
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        folder.write_text("a note of the user's\n")
    with pytest.raises(ComparisonFailed, match=rf"sweep-d is a {kind}, not a folder; move it away: sweep d keeps "):
        render_comparison(sweep, outcomes, tmp_path / "reports")
    assert not any((tmp_path / "elsewhere").iterdir()) and not calls  # nothing rendered, nothing written
    assert kind == "link" or folder.read_text() == "a note of the user's\n"
