"""MLflow tracking against a real `mlflow server` (SQLite store, artifacts served), started here on a free port:
a tiny report and the smoke sweep are read back through MLflow's client; a server that is down, refuses, never
answers, trickles or floods costs one warning and seconds (real servers on 127.0.0.1); a URI MLflow cannot use is
one line before the run; the docs list what is logged; without a URI, MLflow is never imported."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from conftest import REPOSITORY, digitlib_cli, digitlib_in_process, require_module, run_dir_of
from digitlib.layout import MLFLOW_FILE
from digitlib.run.tracking import (
    ARTIFACTS,
    HTTP_LIMITS,
    TRACKING_URI,
    Tracker,
    shown,
    tracker_for,
    untracked,
)
from digitlib.untrusted import printable

if importlib.util.find_spec("mlflow") is None:  # without importing it
    require_module("mlflow", "the mlflow extra is not installed (make test installs it)")


class _Mlflow:
    """mlflow, imported when a test first uses it: its import takes seconds, and each pytest-xdist worker collects
    every module."""

    def __getattr__(self, name):
        if name.startswith("_"):  # pytest asks every module attribute for `_mock_name` while it collects
            raise AttributeError(name)
        import mlflow

        return getattr(mlflow, name)


mlflow = _Mlflow()

# Tiny, yet it learns (over 50% on the test images: no warning that it learned little): the seed network.
TINY = ["-p", "model", "seed", "-p", "train_limit", "1000", "-p", "test_limit", "200", "-p", "epochs", "2",
        "-p", "validation_split", "0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def warnings_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("digitlib: warning:")]


def ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """`mlflow server` with a SQLite backend store and served artifacts on a free 127.0.0.1 port; its URI.
    Stopped (its whole process group) after the session."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
               f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", str(folder / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine takes a minute or more to start it
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        mlflow.MlflowClient(uri).search_experiments()  # its first request is slow: not one of the tests'
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def logged_report(mlflow_server, tmp_path_factory, mnist_dir):
    """A tiny report run with --mlflow, as a user would (--json): (the command, its run directory)."""
    folder = tmp_path_factory.mktemp("tracked")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")}
    command = [sys.executable, "-m", "digitlib", "report", "--json", "--mlflow", mlflow_server, *TINY,
               "-p", "data_dir", str(mnist_dir)]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900,
                            env={**environment, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result, run_dir_of(result, folder)


@pytest.mark.e2e
def test_a_report_is_logged_with_every_parameter_metric_tag_and_artifact(mlflow_server, logged_report, mnist_dir):
    import digitlib.train.data

    result, run_dir = logged_report
    assert json.loads(result.stdout)["status"] == "succeeded", "--json's stdout holds the result alone"
    assert "epoch 2/2" in result.stderr and "I0000" not in result.stderr  # progress, without TensorFlow's chatter
    assert warnings_in(result.stderr) == []
    record, metrics = (json.loads((run_dir / name).read_text()) for name in ("run.json", "metrics.json"))
    logged = json.loads((run_dir / MLFLOW_FILE).read_text())
    assert f"MLflow: run {run_dir.name} logged as {mlflow_server}/#/experiments/{logged['experiment_id']}/runs/" \
           f"{logged['run_id']}" in result.stderr
    client = mlflow.MlflowClient(mlflow_server)
    run = client.get_run(logged["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "digitlib"
    assert (run.info.run_name, run.info.status) == (run_dir.name, "FINISHED")
    assert (run.info.start_time, run.info.end_time) == (ms(record["started"]), ms(record["finished"]))

    # every parameter, as YAML reads it back; the data's folder by its name (run.json holds it resolved, absolute)
    assert record["parameters"]["data_dir"] == str(mnist_dir.resolve())
    assert {name: yaml.safe_load(value) for name, value in run.data.params.items()} == {
        **record["parameters"], "data_dir": mnist_dir.name}
    # per-epoch metrics with steps, and the final numbers
    history = {**metrics["training"]["history"], "epoch_seconds": metrics["training"]["epoch_seconds"]}
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    for name, values in history.items():
        logged_history = client.get_metric_history(run.info.run_id, name)
        assert [(m.step, m.value) for m in logged_history] == [(epoch, pytest.approx(value))
                                                               for epoch, value in enumerate(values, 1)], name
    final = run.data.metrics
    assert final["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert final["test_loss"] == pytest.approx(metrics["test"]["loss"])
    assert final["test_mistakes"] == metrics["test"]["mistakes"] and final["test_images"] == 200
    assert final["calibration_ece"] == pytest.approx(metrics["calibration"]["ece"])
    assert final["robustness_mean_accuracy"] == pytest.approx(metrics["robustness"]["mean_accuracy"])
    for digit, scores in metrics["per_class"].items():
        assert [final[f"test_{name}_{digit}"] for name in ("precision", "recall", "f1")] == pytest.approx(
            [scores["precision"], scores["recall"], scores["f1"]])
    assert final["wall_seconds"] == pytest.approx(record["wall_seconds"])
    # tags: model, backend, device, git commit, the data's SHA-256s
    tags = run.data.tags
    assert (tags["digitlib.model"], tags["digitlib.backend"], tags["digitlib.status"]) == (
        "seed", "tensorflow", "succeeded")
    assert tags["digitlib.device"] == f"CPU ({metrics['environment']['device']['count']} cores)"
    assert tags["digitlib.git_commit"] == metrics["environment"]["git_commit"]
    assert tags["mlflow.source.git.commit"] == metrics["environment"]["git_commit"].removesuffix("-dirty")
    assert {name.removeprefix("digitlib.data.sha256."): value for name, value in tags.items()
            if name.startswith("digitlib.data.sha256.")} == digitlib.layout.IDX_FILES
    assert "mlflow.parentRunId" not in tags
    assert tags["digitlib.data_source"] == mnist_dir.name  # a name, not where it lies: no tag names a local folder
    assert [value for value in [*tags.values(), *run.data.params.values()]
            if str(mnist_dir) in value or str(run_dir.parent) in value] == []
    # the run directory's files, byte for byte
    artifacts = {entry.path: entry.file_size for entry in client.list_artifacts(run.info.run_id)}
    assert artifacts == {name: (run_dir / name).stat().st_size for name in ARTIFACTS}
    copy = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="metrics.json",
                                                    tracking_uri=mlflow_server))
    assert copy.read_bytes() == (run_dir / "metrics.json").read_bytes()
    print(f"\nread back: {len(run.data.params)} parameters, {len(final)} metrics "
          f"({sum(len(v) for v in history.values())} per-epoch values), {len(tags)} tags, {len(artifacts)} artifacts")


@pytest.mark.e2e
@pytest.mark.full  # make test: a report logged and read back (above); the smoke sweep's outcome (test_sweep)
def test_a_sweep_is_a_parent_run_with_the_runs_it_executed_as_children(mlflow_server, tmp_path, monkeypatch):
    # $MLFLOW_TRACKING_URI this time: the sweep's own `digitlib report` processes must not log themselves too
    monkeypatch.setenv(TRACKING_URI, mlflow_server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "sweeps")
    result = digitlib_cli("sweep", REPOSITORY / "sweeps" / "smoke.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]  # the smoke sweep's second run fails on purpose
    assert warnings_in(result.stderr) == []
    outcome = json.loads(result.stdout)
    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("sweeps").experiment_id
    runs = client.search_runs([experiment])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1 and len(runs) == 3, [run.info.run_name for run in runs]
    parent = parents[0]
    assert parent.info.run_name == "smoke" and parent.info.status == "FINISHED"
    assert f"MLflow: sweep smoke and 2 runs logged as {mlflow_server}/#/experiments/{experiment}/runs/" \
           f"{parent.info.run_id}" in result.stderr
    assert {name: parent.data.metrics[name] for name in ("runs", "failed", "skipped", "logged_runs")} == {
        "runs": 2, "failed": 1, "skipped": 0, "logged_runs": 2}
    assert parent.data.metrics["best_test_accuracy"] == pytest.approx(outcome["runs"][0]["test_accuracy"])
    assert {entry.path for entry in client.list_artifacts(parent.info.run_id)} == {
        "smoke.yaml", "comparison.html", "sweep.json"}
    children = {run.info.run_name: run for run in runs if run is not parent}
    assert set(children) == {o["run_id"] for o in outcome["runs"]}
    for o in outcome["runs"]:
        child = children[o["run_id"]]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == {"succeeded": "FINISHED", "failed": "FAILED"}[o["status"]]
        named = {**o["parameters"], "data_dir": o["parameters"]["data_dir"] and Path(o["parameters"]["data_dir"]).name}
        assert {name: yaml.safe_load(value) for name, value in child.data.params.items()} == named  # no local path
        assert {entry.path for entry in client.list_artifacts(child.info.run_id)} == {
            name for name in ARTIFACTS if (tmp_path / "reports" / o["run_id"] / name).is_file()}
        if o["status"] == "succeeded":
            assert child.data.metrics["test_accuracy"] == pytest.approx(o["test_accuracy"])
            assert [m.step for m in client.get_metric_history(child.info.run_id, "loss")] == [1]
        else:
            assert child.data.tags["digitlib.error"] and child.data.tags["digitlib.error"] in o["error"]


@pytest.mark.e2e
@pytest.mark.full  # make test: a report logged and read back (above); a sweep on a real Dask cluster (test_cluster)
def test_runs_from_dask_workers_are_logged_by_the_client_that_receives_them(mlflow_server, tmp_path, mnist_dir,
                                                                            monkeypatch):
    require_module("distributed", "the dask extra is not installed (make test installs it)")
    from test_cluster import LocalCluster

    monkeypatch.setenv(TRACKING_URI, mlflow_server)  # the worker has it too, and must not log its runs itself
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "cluster")
    client_folder = tmp_path / "client"
    client_folder.mkdir()
    cluster = LocalCluster(tmp_path, mnist_dir)
    try:
        cluster.add_worker("worker")  # runs in a scratch folder of its own and sends each run back
        cluster.wait_for_workers(1)
        result = digitlib_cli("sweep", REPOSITORY / "sweeps" / "smoke.yaml", "--scheduler", cluster.address, "--json",
                              cwd=client_folder)
    finally:
        cluster.stop()
    assert result.returncode == 1, result.stderr[-3000:]  # the smoke sweep's second run fails on purpose
    assert warnings_in(result.stderr) == []
    outcome = json.loads(result.stdout)
    client = mlflow.MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("cluster").experiment_id])
    parent = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    children = {run.info.run_name: run for run in runs if run is not parent}
    assert len(runs) == 3 and set(children) == {o["run_id"] for o in outcome["runs"]}
    for o in outcome["runs"]:  # logged from the copy received into the client's reports folder
        run_dir = client_folder / "reports" / o["run_id"]
        assert children[o["run_id"]].data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert json.loads((run_dir / MLFLOW_FILE).read_text())["run_id"] == children[o["run_id"]].info.run_id


@pytest.mark.e2e
@pytest.mark.full  # make test: a run logged FINISHED and read back (above); a sweep's errors (test_sweep)
def test_a_sweep_stopped_by_an_error_ends_its_parent_run_failed(mlflow_server, tmp_path):
    environment = {**{name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")},
                   "MLFLOW_EXPERIMENT_NAME": "unreachable", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    result = subprocess.run([sys.executable, "-m", "digitlib", "sweep", str(REPOSITORY / "sweeps" / "smoke.yaml"),
                             "--scheduler", f"tcp://127.0.0.1:{free_port()}", "--mlflow", mlflow_server],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 2, result.stderr[-2000:]
    assert [line.split(" (")[0] for line in result.stderr.splitlines()] == [
        f"digitlib: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:{result.args[-3].rsplit(':', 1)[1]}'"]
    client = mlflow.MlflowClient(mlflow_server)
    [parent] = client.search_runs([client.get_experiment_by_name("unreachable").experiment_id])
    assert (parent.info.run_name, parent.info.status, parent.data.metrics) == ("smoke", "FAILED", {"logged_runs": 0})


class Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's `status`; status None: never answers (holds the connection)."""

    def answer(self):
        self.server.requests.append(time.monotonic())
        if self.server.status is None:
            self.server.stop.wait(60)
            return
        self.send_response(self.server.status)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"not today")

    do_GET = do_POST = do_PUT = answer

    def log_message(self, *arguments):
        pass


@pytest.fixture
def refusing_server(request):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    server.daemon_threads, server.status, server.stop, server.requests = True, request.param, threading.Event(), []
    server.uri = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


def log_twice(uri: str, run_dir: Path, capsys, requests: list[float] | None = None) -> tuple[float, list[str]]:
    """Log `run_dir` twice with one tracker: the seconds the first try took (from the server's first request, where
    `requests` holds when they came: starting MLflow is not the server's doing), and the warnings printed."""
    tracker = Tracker(uri)
    started = time.monotonic()
    assert tracker.log_run(run_dir) is None
    seconds = time.monotonic() - (requests[0] if requests else started)
    assert tracker.log_run(run_dir) is None and tracker.off  # off after the first failure: tried once
    captured = capsys.readouterr()
    assert captured.out == ""
    print(f"\n{uri}: {seconds:.2f} s")
    return seconds, warnings_in(captured.err)


@pytest.fixture
def finished_run(logged_report, tmp_path) -> Path:
    """A copy of the tracked report's run directory, without its note of the MLflow run."""
    run_dir = shutil.copytree(logged_report[1], tmp_path / logged_report[1].name)
    (run_dir / MLFLOW_FILE).unlink()
    return run_dir


@pytest.mark.e2e
def test_a_run_whose_files_do_not_validate_is_not_logged_and_the_next_is(mlflow_server, finished_run, tmp_path,
                                                                          capsys):
    """A history key MLflow refuses as a metric name ('../x') passed the schema: MLflow refused it mid-run, the run
    stayed RUNNING there and tracking was off for the rest of the sweep."""
    bad = shutil.copytree(finished_run, tmp_path / "bad" / finished_run.name)
    metrics = json.loads((bad / "metrics.json").read_text())
    metrics["training"]["history"]["../x"] = [0.5, 0.5]
    (bad / "metrics.json").write_text(json.dumps(metrics))
    tracker = Tracker(mlflow_server)
    assert tracker.log_run(bad) is None and not tracker.off
    assert tracker.log_run(finished_run) is not None
    [warning] = warnings_in(capsys.readouterr().err)
    assert warning.startswith(f"digitlib: warning: run {bad.name} is not logged to MLflow: its files do not validate "
                              "(metrics.json"), warning


@pytest.mark.e2e
@pytest.mark.parametrize("refusing_server, reason", [(403, "the server answered HTTP 403"),
                                                     (500, "too many 500 error responses")],
                         indirect=["refusing_server"])
def test_a_refusing_server_costs_one_warning_and_a_second(refusing_server, reason, finished_run, capsys):
    seconds, warnings = log_twice(refusing_server.uri, finished_run, capsys, refusing_server.requests)
    assert warnings == [f"digitlib: warning: could not log run {finished_run.name} to MLflow at {refusing_server.uri} "
                        f"({reason}); nothing more is logged to MLflow by this command, the run directory holds "
                        "everything"]
    assert seconds < 10 and not (finished_run / MLFLOW_FILE).exists()


@pytest.mark.e2e
def test_a_server_that_is_down_costs_one_warning_and_no_time(finished_run, capsys):
    uri = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    seconds, warnings = log_twice(uri, finished_run, capsys)
    assert len(warnings) == 1 and "(Connection refused)" in warnings[0] and seconds < 10


@pytest.mark.e2e
@pytest.mark.parametrize("refusing_server", [None], indirect=True)
def test_a_server_that_never_answers_costs_two_timeouts(refusing_server, finished_run, capsys):
    seconds, warnings = log_twice(refusing_server.uri, finished_run, capsys, refusing_server.requests)
    timeout = int(HTTP_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    assert len(warnings) == 1 and f"(read timeout={timeout})" in warnings[0]
    assert seconds < 2 * timeout + 2  # one try and one retry, each waiting out the timeout


@pytest.mark.e2e
@pytest.mark.full  # make test: the same warning from the same Tracker, in this process (above)
def test_a_report_with_the_server_down_warns_once_and_succeeds(tmp_path, mnist_dir):
    uri = f"http://127.0.0.1:{free_port()}"
    result = digitlib_cli("report", "--mlflow", uri, *TINY, "-p", "epochs", "1", "-p", "data_dir", mnist_dir,
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith("test accuracy ")
    assert warnings_in(result.stderr) == [
        f"digitlib: warning: could not log run {next((tmp_path / 'reports').glob('2*')).name} to MLflow at {uri} "
        "(Connection refused); nothing more is logged to MLflow by this command, the run directory holds everything"]


def mlflow_imported_after(arguments: list[str], environment: dict[str, str]) -> str:
    """Run digitlib.run.cli.main(`arguments`) in a fresh interpreter: "True" or "False" (whether it imported mlflow)
    and its exit status."""
    code = ("import sys, digitlib.run.cli\n"
            "try:\n"
            f"    status = digitlib.run.cli.main({arguments!r})\n"
            "except SystemExit as exit:\n"
            "    status = exit.code\n"
            "print('mlflow' in sys.modules, status)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                            cwd=REPOSITORY, env=environment)
    assert result.stdout.strip(), result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.e2e
@pytest.mark.full  # make test: help and refused runs import no mlflow (test_cli_light)
def test_without_a_uri_neither_help_nor_a_run_imports_mlflow(tmp_path):
    environment = {name: value for name, value in os.environ.items() if name != TRACKING_URI}
    for arguments in (["report", "--help"], ["sweep", "--help"]):
        assert mlflow_imported_after(arguments, environment) == "False 0"
    # a real run, which fails fast: no data where it looks (a failed run would be logged too, with a URI)
    run = ["report", "--reports-dir", str(tmp_path), "-p", "data_dir", str(tmp_path / "none"), "-p", "epochs", "1",
           "-p", "train_limit", "100"]
    assert mlflow_imported_after(run, environment) == "False 1"
    assert len(list(tmp_path.glob("2*/run.json"))) == 1


def test_the_uri_comes_from_the_option_else_the_variable(monkeypatch):
    monkeypatch.delenv(TRACKING_URI, raising=False)
    assert tracker_for(None) is None and tracker_for("") is None and tracker_for("  ") is None
    assert tracker_for("http://127.0.0.1:5000").uri == "http://127.0.0.1:5000"
    monkeypatch.setenv(TRACKING_URI, "http://tracking:5000")
    assert tracker_for(None).uri == "http://tracking:5000"
    assert tracker_for("sqlite:///runs.db").uri == "sqlite:///runs.db" and tracker_for("") is None


def test_the_runs_a_sweep_starts_do_not_log_themselves():
    environment = {TRACKING_URI: "http://tracking:5000", "MLFLOW_EXPERIMENT_NAME": "x", "PATH": "/bin"}
    assert untracked(environment) == {"MLFLOW_EXPERIMENT_NAME": "x", "PATH": "/bin"}


def test_messages_show_no_credentials_of_the_uri():
    assert shown("https://user:secret@mlflow.example.com:8443/path") == "https://mlflow.example.com:8443/path"
    assert shown("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert shown("sqlite:///tmp/runs.db") == "sqlite:///tmp/runs.db"


# --- Issue #22: a tracking URI, server or store cannot hold up, flood or fail a run ---

BAD_URIS = ("unclosed IPv6 bracket", "port out of range", "unknown scheme", "no host", "control character",
            "not a SQLite file", "a folder", "no such folder", "file store")


def in_folder(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Bad tracking URIs (some naming files in `tmp_path`): the URI, and what its one error line says."""
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database\n")
    return {
        "unclosed IPv6 bracket": ("http://[::1", "is not a URI (Invalid IPv6 URL)"),
        "port out of range": ("http://127.0.0.1:99999", "is not a URI (Port out of range 0-65535)"),
        "unknown scheme": ("htp://127.0.0.1:5000", "MLflow has no tracking store for htp: URIs"),
        "no host": ("http:///api", "names no host"),
        "control character": ("http://127.0.0.1:5000/\x1b[2J", "is not a URI (a control character)"),
        "not a SQLite file": (f"sqlite:///{garbage}", f"{garbage} is not a SQLite database"),
        "a folder": (f"sqlite:///{tmp_path}", f"{tmp_path} is not a regular file"),
        "no such folder": (f"sqlite:///{tmp_path}/typo/mlflow.db", f"the folder {tmp_path}/typo does not exist"),
        "file store": (str(tmp_path / "mlruns"), "unless MLFLOW_ALLOW_FILE_STORE=true is set"),
    }


def one_error_line(result, starts: str, says: str) -> None:
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts) and says in lines[0], lines


@pytest.mark.parametrize("case", BAD_URIS)
def test_a_bad_uri_is_one_line_and_exit_2_before_the_run_creates_anything(case, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    cases = in_folder(tmp_path)
    assert tuple(cases) == BAD_URIS
    uri, says = cases[case]
    before = sorted(tmp_path.rglob("*"))
    started = time.perf_counter()
    # a run that would fail fast (no data there) if it started: the old code ran it, then failed to log it
    result = digitlib_in_process("report", "--mlflow", uri, "-p", "data_dir", tmp_path / "none", "-p", "epochs", "1",
                                 cwd=tmp_path)
    one_error_line(result, f"digitlib: error: --mlflow '{printable(uri)}'", says)
    assert sorted(tmp_path.rglob("*")) == before and time.perf_counter() - started < 2
    assert "\x1b" not in result.stderr


def test_a_bad_uri_in_the_variable_stops_a_sweep_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setenv(TRACKING_URI, "http://[::1")
    result = digitlib_in_process("sweep", REPOSITORY / "sweeps" / "smoke.yaml", cwd=tmp_path)
    one_error_line(result, "digitlib: error: $MLFLOW_TRACKING_URI 'http://[::1' is not a URI", "--mlflow ''")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_timeout_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLIB_MLFLOW_TIMEOUT", "soon")
    result = digitlib_in_process("report", "--mlflow", "http://127.0.0.1:5000", cwd=tmp_path)
    one_error_line(result, "digitlib: error: $DIGITLIB_MLFLOW_TIMEOUT must be a positive number of seconds", "'soon'")
    assert list(tmp_path.iterdir()) == []


def test_good_uris_are_taken_as_they_are_and_nothing_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "existing.db"
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.commit()
    uris = ["http://127.0.0.1:5000", "https://user:secret@mlflow.example.com:8443/prefix", "http://[::1]:5000",
            "sqlite:///mlflow.db", f"sqlite:///{database}", f"sqlite:///{tmp_path}/new.db?timeout=5",
            "postgresql+psycopg2://user@db.example.com/mlflow", "databricks"]
    before = sorted(tmp_path.rglob("*"))
    assert [tracker_for(uri).uri for uri in uris] == uris
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the pinned MLflow's opt-out
    assert tracker_for(str(tmp_path / "mlruns")).uri == str(tmp_path / "mlruns")
    assert sorted(tmp_path.rglob("*")) == before


def tracking_workers() -> list[int]:
    """The processes of this one that run MLflow for a Tracker (python -m digitlib.run.tracking)."""
    workers = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            if f"\nPPid:\t{os.getpid()}\n" in status.read_text() and \
                    b"digitlib.run.tracking" in (status.parent / "cmdline").read_bytes():
                workers.append(int(status.parent.name))
    return workers


class Answering(socketserver.ThreadingTCPServer):
    """A server on a free 127.0.0.1 port that reads each HTTP request's head, notes when it came (`requests`) and
    answers with `answer(server, connection)`, until stopped."""

    daemon_threads = allow_reuse_address = True

    def __init__(self, answer):
        self.answer, self.stop, self.requests = answer, threading.Event(), []
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                received += chunk
            self.server.requests.append(time.monotonic())
            with contextlib.suppress(OSError):  # the client hung up
                self.server.answer(self.server, self.request)


def trickle(server: Answering, connection: socket.socket) -> None:
    """An answer one byte every 0.3 s, without end: no read waits long enough to time out."""
    answer = iter(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Wait: ")
    while not server.stop.wait(0.3):
        connection.sendall(bytes([next(answer, ord("."))]))


def flood(server: Answering, connection: socket.socket) -> None:
    """An answer of 3 GB, as fast as it is read."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                       % (3 << 30))
    block = b" " * (1 << 20)
    while not server.stop.is_set():
        connection.sendall(block)


@pytest.fixture
def trickling_server():
    server = Answering(trickle)
    yield server
    server.close()


@pytest.mark.e2e  # make test, not test-quick: seconds of real processes or of a timeout
def test_a_server_that_trickles_its_answer_costs_the_timeout_and_one_warning(trickling_server, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setenv("DIGITLIB_MLFLOW_TIMEOUT", "1")
    sweep_file = tmp_path / "trickle.yaml"
    sweep_file.write_text("name: trickle\nruns:\n  - model: seed\n")
    tracker = Tracker(trickling_server.uri)
    assert tracker.start_sweep("trickle", sweep_file) is None
    given_up = time.monotonic()
    assert trickling_server.requests, "MLflow asked the server"
    assert given_up - trickling_server.requests[0] < 1 + 1.5  # its timeout, not minutes
    tracker.finish_sweep("trickle", [])  # off after the failure: nothing more is tried
    assert len(trickling_server.requests) == 1 and tracker.off
    captured = capsys.readouterr()
    assert captured.out == "" and warnings_in(captured.err) == [
        f"digitlib: warning: could not log sweep trickle to MLflow at {trickling_server.uri} (no answer within 1 s: "
        "$DIGITLIB_MLFLOW_TIMEOUT sets how long to wait); nothing more is logged to MLflow by this command, the run "
        "directory holds everything"]
    assert tracking_workers() == []  # the worker waiting for the server was stopped


@pytest.fixture
def flooding_server():
    server = Answering(flood)
    yield server
    server.close()


@pytest.mark.full  # ~10 s: a gigabyte read; make test: a trickling server (above) stops the worker the same way
def test_a_server_that_answers_gigabytes_costs_a_warning_not_the_memory(flooding_server, tmp_path, capsys):
    import resource

    sweep_file = tmp_path / "flood.yaml"
    sweep_file.write_text("name: flood\nruns:\n  - model: seed\n")
    held = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    started = time.monotonic()
    assert Tracker(flooding_server.uri).start_sweep("flood", sweep_file) is None
    assert time.monotonic() - started < 60 and flooding_server.requests
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - held < 100 << 10  # the worker read it, not we
    assert warnings_in(capsys.readouterr().err) == [
        f"digitlib: warning: could not log sweep flood to MLflow at {flooding_server.uri} (MLflow needed more than the "
        "1024 MiB it may use: an answer too large?); nothing more is logged to MLflow by this command, the run "
        "directory holds everything"]
    assert tracking_workers() == []


# A run's record and metrics with every optional part: an ensemble, calibrated, tested for robustness, on a GPU
RECORD = {"run_id": "20261201-120000-0123abcd", "notebook_name": "mnist_cnn", "status": "failed", "error": "boom",
          "backend": "tensorflow", "model_version": 2, "identity": "0123abcd" * 8, "started": "2026-12-01T12:00:00",
          "finished": "2026-12-01T12:01:00", "wall_seconds": 60.0,
          "parameters": {"model": "ensemble", "epochs": 1, "data_dir": "/home/someone/private/mnist"}}


def full_metrics() -> dict:
    from digitlib.layout import IDX_FILES

    return {
        "environment": {"device": {"type": "GPU", "name": "NVIDIA H200", "count": 1}, "git_commit": "0123abc-dirty",
                        "versions": {"python": "3.11.7", "keras": "3.10.0", "numpy": "2.2.6"}},
        "data": {"source": "/home/someone/private/mnist", "sha256": dict(IDX_FILES)},
        "reproducibility": {"backend": "tensorflow"},
        "training": {"epoch_seconds": [1.0, 1.0], "train_seconds": 2.0, "train_images": 900, "validation_images": 100,
                     "model_parameters": 1000,
                     "history": {name: [1.0, 0.5] for name in ("loss", "accuracy", "val_loss", "val_accuracy")},
                     "members": [{"seed": seed, "source": "trained", "train_seconds": 1.0, "val_accuracy": 0.9,
                                  "test_accuracy": 0.9} for seed in (1, 2)]},
        "test": {"accuracy": 0.9, "loss": 0.3, "mistakes": 20, "images": 200},
        "per_class": {str(digit): {"precision": 0.9, "recall": 0.9, "f1": 0.9} for digit in range(10)},
        "calibration": {"ece": 0.1, "nll": 0.3, "brier": 0.2, "bins": 15, "temperature": 1.2,
                        "ece_after_temperature": 0.05},
        "robustness": {"clean_accuracy": 0.9, "mean_accuracy": 0.7, "accuracy": {"rotation": 0.7, "blur": 0.8}},
    }


def documented(kind: str) -> tuple[set[str], str]:
    """The names in backticks in docs/tracking.md's bullet `- **kind** …: …`, and its text."""
    import re

    text = (REPOSITORY / "docs" / "tracking.md").read_text(encoding="utf-8")
    bullet = re.search(rf"^- \*\*{re.escape(kind)}\*\*[^:]*:(.*?)(?=^- |^$)", text, re.MULTILINE | re.DOTALL)
    assert bullet, f"docs/tracking.md lists no {kind}"
    return set(re.findall(r"`([^`]+)`", bullet.group(1))), bullet.group(1)


def as_documented(name: str) -> str:
    """A logged name as the docs write a family of them: test_f1_<digit>, digitlib.data.sha256.<file>."""
    import re

    name = re.sub(r"^digitlib\.data\.sha256\..+", "digitlib.data.sha256.<file>", name)
    name = re.sub(r"^(test_(precision|recall|f1))_\d$", r"\1_<digit>", name)
    name = re.sub(r"^member_seed\d+_", "member_seed<seed>_", name)
    return re.sub(r"^robustness_(?!(clean|mean)_accuracy$).+", "robustness_<shift>", name)


def test_the_docs_list_exactly_the_metrics_tags_and_artifacts_logged_and_no_tag_names_a_local_path():
    from digitlib.run.sweep import Outcome
    from digitlib.run.tracking import run_metrics, run_tags, sweep_metrics, sweep_tags

    metrics = run_metrics(RECORD, full_metrics())
    assert documented("metrics per epoch")[0] == {name for name, _, _, step in metrics if step > 0}
    assert documented("final metrics")[0] == {as_documented(name) for name, _, _, step in metrics if step == 0}
    tags = run_tags(RECORD, full_metrics(), parent="0" * 32)
    assert documented("tags")[0] == {as_documented(name) for name in tags}
    assert documented("artifacts")[0] == set(ARTIFACTS)
    assert documented("sweep tags")[0] == set(sweep_tags("ladder", REPOSITORY / "sweeps" / "ladder.yaml"))
    succeeded = Outcome({}, "tensorflow", "succeeded", run_id="run-1", test_accuracy=0.9)
    assert documented("sweep metrics")[0] == set(sweep_metrics([succeeded], 1))
    # privacy: a shared server learns the data's name and checksums, not where it or the run lies
    assert tags["digitlib.data_source"] == "mnist" and not [value for value in tags.values() if "/home" in value]
    assert documented("parameters")[0] >= {"data_dir", "mnist", "runs", "images", "model_path"}
    assert sweep_tags("ladder", REPOSITORY / "sweeps" / "ladder.yaml")["digitlib.sweep_file"] == "ladder.yaml"


@pytest.mark.parametrize("notebook, given, logged", [
    ("mnist_cnn", {"model": "fast", "data_dir": "/home/someone/private/mnist"}, {"model": "fast", "data_dir": "mnist"}),
    ("mnist_cnn", {"data_dir": None}, {"data_dir": "null"}),
    ("compare_runs", {"runs": ["/home/someone/reports/a", "/home/someone/reports/b"], "title": "/home/x",
                      "data_dir": "/home/someone/mnist.npz"},
     {"runs": '["a", "b"]', "title": "/home/x", "data_dir": "mnist.npz"}),
    ("predict_your_digits", {"images": "/home/someone/photos", "model_path": "/home/someone/reports/r/model.keras",
                             "top": 3}, {"images": "photos", "model_path": "model.keras", "top": "3"}),
])
def test_a_path_parameter_is_logged_by_its_name_alone(notebook, given, logged):
    """run.json holds path parameters resolved and absolute (digitlib.params.absolute_paths): MLflow, often a shared
    server, gets only their names, as the tags name the data (a title is text, not a path)."""
    from digitlib.run.tracking import run_parameters

    assert run_parameters({**RECORD, "notebook_name": notebook, "parameters": given}) == logged


@pytest.mark.e2e  # the session's MLflow server, started for the tests above
def test_a_failed_comparison_ends_the_sweep_in_one_line_and_its_parent_run_failed(mlflow_server, tmp_path,
                                                                                     monkeypatch):
    """The sweep's runs and comparison are stood in for (no training); its tracking is the real one, read back."""
    from digitlib.run import runner, sweep
    from digitlib.run.sweep import Outcome, load_sweep

    (tmp_path / "sweep.yaml").write_text("name: d\nruns:\n  - {seed: 1}\n")
    parameters = load_sweep(tmp_path / "sweep.yaml").parameter_sets[0]
    (tmp_path / "reports" / "comparison-run").mkdir(parents=True)
    monkeypatch.setattr(sweep, "run_sweep", lambda *arguments, **options: [
        Outcome(parameters, "tensorflow", "succeeded", run_id="r1", test_accuracy=0.9)])
    monkeypatch.setattr(runner, "run_report", lambda *arguments, **options: runner.RunResult(
        tmp_path / "reports" / "comparison-run", "failed", "ValueError: no"))
    for name in [name for name in os.environ if name.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "failed comparison")
    result = digitlib_in_process("sweep", "sweep.yaml", "--mlflow", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == ("digitlib: error: the comparison of sweep d failed: ValueError: no (see "
                                              f"{tmp_path / 'reports' / 'comparison-run' / 'report.html'})")
    assert "Traceback" not in result.stderr
    client = mlflow.MlflowClient(mlflow_server)
    [parent] = client.search_runs([client.get_experiment_by_name("failed comparison").experiment_id])
    assert (parent.info.run_name, parent.info.status) == ("d", "FAILED")
