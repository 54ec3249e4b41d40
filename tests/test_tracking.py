"""MLflow tracking against a real `mlflow server` (SQLite store, artifacts served), started here on a free port:
a tiny report and the smoke sweep are read back through MLflow's client; a server that is down, refuses or
never answers costs one warning and seconds; without a URI, MLflow is never imported."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from conftest import REPOSITORY, digitlib_cli, require_module, run_dir_of
from digitlib.tracking import ARTIFACTS, HTTP_LIMITS, RECORD_FILE, TRACKING_URI, Tracker, shown, tracker_for, untracked

if importlib.util.find_spec("mlflow") is None:  # without importing it
    require_module("mlflow", "the mlflow extra is not installed (make test installs it)")


class _Mlflow:
    """mlflow, imported when a test first uses it: its import takes seconds, and each pytest-xdist worker collects
    every module."""

    def __getattr__(self, name):
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
    command = [sys.executable, "-m", "digitlib.cli", "report", "--json", "--mlflow", mlflow_server, *TINY,
               "-p", "data_dir", str(mnist_dir)]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900,
                            env={**environment, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result, run_dir_of(result, folder)


@pytest.mark.e2e
def test_a_report_is_logged_with_every_parameter_metric_tag_and_artifact(mlflow_server, logged_report):
    import digitlib.data

    result, run_dir = logged_report
    assert json.loads(result.stdout)["status"] == "succeeded", "--json's stdout holds the result alone"
    assert "epoch 2/2" in result.stderr and "I0000" not in result.stderr  # progress, without TensorFlow's chatter
    assert warnings_in(result.stderr) == []
    record, metrics = (json.loads((run_dir / name).read_text()) for name in ("run.json", "metrics.json"))
    logged = json.loads((run_dir / RECORD_FILE).read_text())
    assert f"MLflow: run {run_dir.name} logged as {mlflow_server}/#/experiments/{logged['experiment_id']}/runs/" \
           f"{logged['run_id']}" in result.stderr
    client = mlflow.MlflowClient(mlflow_server)
    run = client.get_run(logged["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "digitlib"
    assert (run.info.run_name, run.info.status) == (run_dir.name, "FINISHED")
    assert (run.info.start_time, run.info.end_time) == (ms(record["started"]), ms(record["finished"]))

    # every parameter, as YAML reads it back
    assert {name: yaml.safe_load(value) for name, value in run.data.params.items()} == record["parameters"]
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
            if name.startswith("digitlib.data.sha256.")} == digitlib.data.IDX_FILES
    assert "mlflow.parentRunId" not in tags
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
        assert {name: yaml.safe_load(value) for name, value in child.data.params.items()} == o["parameters"]
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
        assert children[o["run_id"]].data.tags["digitlib.run_dir"] == str(run_dir.resolve())
        assert children[o["run_id"]].data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert json.loads((run_dir / RECORD_FILE).read_text())["run_id"] == children[o["run_id"]].info.run_id


@pytest.mark.e2e
@pytest.mark.full  # make test: a run logged FINISHED and read back (above); a sweep's errors (test_sweep)
def test_a_sweep_stopped_by_an_error_ends_its_parent_run_failed(mlflow_server, tmp_path):
    environment = {**{name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")},
                   "MLFLOW_EXPERIMENT_NAME": "unreachable", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    result = subprocess.run([sys.executable, "-m", "digitlib.cli", "sweep", str(REPOSITORY / "sweeps" / "smoke.yaml"),
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
    server.daemon_threads, server.status, server.stop = True, request.param, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stop.set()
    server.shutdown()
    server.server_close()


def log_twice(uri: str, run_dir: Path, capsys) -> tuple[float, list[str]]:
    """Log `run_dir` twice with one tracker: the seconds the first try took, and the warnings printed."""
    tracker = Tracker(uri)
    started = time.perf_counter()
    assert tracker.log_run(run_dir) is None
    seconds = time.perf_counter() - started
    assert tracker.log_run(run_dir) is None and tracker.off  # off after the first failure: tried once
    captured = capsys.readouterr()
    assert captured.out == ""
    print(f"\n{uri}: {seconds:.2f} s")
    return seconds, warnings_in(captured.err)


@pytest.fixture
def finished_run(logged_report, tmp_path) -> Path:
    """A copy of the tracked report's run directory, without its note of the MLflow run."""
    run_dir = shutil.copytree(logged_report[1], tmp_path / logged_report[1].name)
    (run_dir / RECORD_FILE).unlink()
    return run_dir


@pytest.mark.e2e
@pytest.mark.parametrize("refusing_server, reason", [(403, "the server answered HTTP 403"),
                                                     (500, "too many 500 error responses")],
                         indirect=["refusing_server"])
def test_a_refusing_server_costs_one_warning_and_a_second(refusing_server, reason, finished_run, capsys):
    seconds, warnings = log_twice(refusing_server, finished_run, capsys)
    assert warnings == [f"digitlib: warning: could not log run {finished_run.name} to MLflow at {refusing_server} "
                        f"({reason}); nothing more is logged to MLflow by this command, the run directory holds "
                        "everything"]
    assert seconds < 10 and not (finished_run / RECORD_FILE).exists()


@pytest.mark.e2e
def test_a_server_that_is_down_costs_one_warning_and_no_time(finished_run, capsys):
    uri = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    seconds, warnings = log_twice(uri, finished_run, capsys)
    assert len(warnings) == 1 and "(Connection refused)" in warnings[0] and seconds < 10


@pytest.mark.e2e
@pytest.mark.parametrize("refusing_server", [None], indirect=True)
def test_a_server_that_never_answers_costs_two_timeouts(refusing_server, finished_run, capsys):
    seconds, warnings = log_twice(refusing_server, finished_run, capsys)
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
    """Run digitlib.cli.main(`arguments`) in a fresh interpreter: "True" or "False" (whether it imported mlflow)
    and its exit status."""
    code = ("import sys, digitlib.cli\n"
            "try:\n"
            f"    status = digitlib.cli.main({arguments!r})\n"
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
