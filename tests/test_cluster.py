"""Sweeps on a real Dask cluster: a scheduler and two workers on 127.0.0.1, one of them killed mid-run.

Runs come back from the workers as archives and are checked like any untrusted run directory; the
archive tests below build hostile ones by hand.
"""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPOSITORY, digitlib_cli, require_module

require_module("distributed", "the dask extra is not installed (make test installs it)")

from digitlib.run.cluster import pack_run, read_shared_run, receive_run, run_on_worker  # noqa: E402
from digitlib.rundir import InvalidRun, read_runs, run_identity  # noqa: E402

TINY = {"train_limit": 1000, "test_limit": 200, "epochs": 1}
SMOKE = REPOSITORY / "sweeps" / "smoke.yaml"  # two tiny runs: one succeeds, one fails (no data where it looks)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Kill `process` and everything it started (it leads a process group of its own)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


class LocalCluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, each in a process group of its own; every
    worker has its own temporary folder (where it runs what it sends back) and sends runs back."""

    def __init__(self, folder: Path, mnist_dir: Path):
        self.folder, self.mnist_dir = folder, mnist_dir
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.processes: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        self.start(["scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                    "--dashboard-address", f"127.0.0.1:{free_port()}"], "scheduler", os.environ)

    def start(self, arguments: list[str], name: str, environment) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "dask", *arguments], stdout=log, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True)
        self.processes.append(process)
        return process

    def add_worker(self, name: str) -> Path:
        """A worker without a nanny (killed, it stays dead); its temporary folder."""
        scratch = self.folder / name
        scratch.mkdir()
        environment = {**os.environ, "DIGITLIB_DATA_DIR": str(self.mnist_dir), "DIGITLIB_COPY_BACK": "1",
                       "TMPDIR": str(scratch), "PYTHONPATH": str(REPOSITORY)}
        self.workers[name] = self.start(["worker", self.address, "--name", name, "--nworkers", "1", "--nthreads", "1",
                                         "--no-nanny", "--local-directory", str(scratch)], name, environment)
        return scratch

    def wait_for_workers(self, count: int, timeout: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)


@pytest.fixture
def cluster(tmp_path, mnist_dir):
    cluster = LocalCluster(tmp_path, mnist_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.e2e
def test_a_sweep_survives_a_worker_killed_mid_run(tmp_path, cluster):
    from digitlib.run.sweep import load_sweep, plan_sweep

    scratches = {name: cluster.add_worker(name) for name in ("worker-a", "worker-b")}
    cluster.wait_for_workers(2)
    started = time.monotonic()
    sweep = subprocess.Popen([sys.executable, "-m", "digitlib", "sweep", str(SMOKE), "--scheduler",
                              cluster.address, "--json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (running := [name for name, scratch in scratches.items() if list(scratch.glob("*/*/run.json"))]):
            if sweep.poll() is not None:
                pytest.fail(f"the sweep ended before a run started on a worker: {sweep.communicate()[1][-3000:]}")
            assert time.monotonic() < deadline, "no run started on a worker"
            time.sleep(0.05)
        victim = running[0]
        os.killpg(cluster.workers[victim].pid, signal.SIGKILL)  # the worker and the run it was executing
        stdout, stderr = sweep.communicate(timeout=400)
    finally:
        stop(sweep)
    seconds = time.monotonic() - started
    assert sweep.returncode == 1, stderr[-3000:]  # the run without data failed: reported, not fatal
    outcome = json.loads(stdout)
    runs = outcome["runs"]
    assert sorted(run["status"] for run in runs) == ["failed", "succeeded"]
    assert all(run["worker"] != "local" and not run["shared"] for run in runs)  # sent back: DIGITLIB_COPY_BACK
    # The dead worker finished nothing; the killed run was retried on the other one.
    survivor = {run["worker"] for run in runs}
    assert len(survivor) == 1, runs
    assert "dashboard: http://127.0.0.1:" in stderr

    reports = tmp_path / "reports"
    training = [run for run in read_runs(reports) if run.contract.trains]
    assert sorted(run.run_id for run in training) == sorted(run["run_id"] for run in runs)  # each once
    index = (reports / "index.html").read_text()
    assert all(run["run_id"] in index for run in runs)
    for run in runs:
        assert run["parameters"]["data_dir"] in (None, "/nonexistent/mnist")  # the client's data folder stays home
        if run["status"] == "succeeded":
            assert (reports / run["run_id"] / "metrics.json").is_file() and 0 < run["test_accuracy"] <= 1
    [failed] = [run for run in runs if run["status"] == "failed"]
    assert "DataError" in failed["error"]
    assert len(re.findall(r"^fast \(epochs 1, seed 42\): failed", stderr, re.M)) == 1
    assert not list(reports.glob(".incoming-*")) and not list(reports.glob(".cluster-*"))
    assert os.readlink(reports / "latest") in {run["run_id"] for run in runs if run["status"] == "succeeded"}
    print(f"sweep through the cluster, a worker killed mid-run: {seconds:.0f} s")

    # Run again, the sweep would skip both (what `digitlib sweep` plans, without rendering the comparison again).
    skipped, pending = plan_sweep(load_sweep(SMOKE), reports)
    assert pending == [] and sorted(run.run_id for run in skipped) == sorted(run["run_id"] for run in runs)


@pytest.mark.e2e  # a new process waits out Dask's connect timeout
def test_an_unreachable_scheduler_is_one_line_and_creates_nothing(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "digitlib", "sweep", str(SMOKE), "--scheduler",
                             f"tcp://127.0.0.1:{free_port()}"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert re.fullmatch(r"digitlib: error: cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:\d+' \(Timed out "
                        r"trying to connect .*\); start one with `dask scheduler` and give its address, such as "
                        r"tcp://HOST:8786\n", result.stderr), result.stderr
    assert time.monotonic() - started < 30
    assert list(tmp_path.iterdir()) == []


MISSING_TLS_FILES = {f"DASK_DISTRIBUTED__COMM__TLS__{name}": "/nonexistent/tls.pem"
                     for name in ("CA_FILE", "CLIENT__CERT", "CLIENT__KEY")}


@pytest.mark.parametrize("arguments, environment, message", [
    (["--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"], {}, "with --scheduler the cluster's workers run them"),
    (["--scheduler", "frob://somewhere:1"], {}, "cannot reach the Dask scheduler at 'frob://somewhere:1' (unknown "
                                                "address scheme 'frob'"),
    (["--scheduler", "tls://127.0.0.1:8786"], MISSING_TLS_FILES, "Dask's TLS configuration cannot be used ([Errno 2] "
                                                                 "No such file or directory)"),
    (["--scheduler", "tcp://127.0.0.1:8786"], {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "30x"},
     "Dask's connect timeout '30x' is no duration"),
], ids=["--jobs", "scheme", "TLS files missing", "timeout"])
def test_bad_cluster_options_are_refused_before_anything_runs(tmp_path, arguments, environment, message):
    result = digitlib_cli("sweep", SMOKE, *arguments, cwd=tmp_path, timeout=120, environment=environment)
    assert result.returncode == 2 and result.stderr.startswith("digitlib: error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


# What comes back from a worker ---------------------------------------------------------------------

def failing_task(reports: Path, token: str = "0" * 32) -> dict:
    from digitlib.params import validate_parameters

    return {"parameters": validate_parameters(model="fast", data_dir="/nonexistent/mnist", **TINY),
            "backend": "tensorflow", "resume": None, "reports_dir": str(reports.resolve()), "token": token}


@pytest.mark.e2e
@pytest.mark.full  # make test: runs sent back as archives from a real cluster, one worker killed (above)
def test_a_worker_runs_into_a_folder_it_sees_and_a_run_sent_back_lands_once_intact(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    token = "1" * 32
    (shared / f".cluster-{token}").write_text(token)
    task = failing_task(shared, token)
    outcome = run_on_worker(task)  # the task a worker runs, here in the test's process
    assert outcome["shared"] and "archive" not in outcome and outcome["status"] == "failed"
    assert "DataError" in outcome["error"] and (shared / outcome["run_id"] / "report.html").is_file()
    assert outcome["run_id"] in (shared / "index.html").read_text()  # indexed by the runner, there

    # The same run as a worker that cannot see the folder sends it (pack_run), received into another folder.
    archive, identity = pack_run(shared / outcome["run_id"]), run_identity(task["parameters"], backend="tensorflow")
    reports = tmp_path / "reports"
    reports.mkdir()
    run_dir, record = receive_run(reports, outcome["run_id"], archive, identity)
    assert run_dir == reports / outcome["run_id"] and record.status == "failed" and record.directory == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in (shared / outcome["run_id"]).iterdir())
    assert sorted(p.name for p in reports.iterdir()) == [outcome["run_id"]]  # no temporary folder left
    again, _ = receive_run(reports, outcome["run_id"], archive, identity)
    assert again.name == f"{outcome['run_id']}-2"  # never over another run
    with pytest.raises(InvalidRun, match="not the run that was asked for"):
        receive_run(reports, outcome["run_id"], archive, run_identity(task["parameters"], backend="jax"))
    assert len(list(reports.iterdir())) == 2

    # A worker names a run in the shared folder that is not the one asked for, one still running here: refused,
    # and its record untouched (it was marked interrupted by the worker's say-so before the check).
    record_file = shared / outcome["run_id"] / "run.json"
    record = json.loads(record_file.read_text())
    record.update(status="running", pid=os.getpid())
    record_file.write_text(json.dumps(record))
    before = record_file.read_bytes()
    with pytest.raises(InvalidRun, match="not the run that was asked for"):
        read_shared_run(shared, outcome["run_id"], "0" * 64, worker="tcp://10.0.0.9:1234")
    assert record_file.read_bytes() == before


def archive_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, content: bytes | None = b"{}", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, content if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize("members, message", [
    ([member("/etc/run-1/run.json")], "lies outside the run folder"),
    ([member("run-1/../../escape.txt")], "lies outside the run folder"),
    ([member("other/run.json")], "lies outside the run folder"),
    ([member("run-1/report.html", tarfile.SYMTYPE, link="/etc/passwd")], "is not a plain file or folder"),
    ([member("run-1/report.html", tarfile.LNKTYPE, link="run-1/run.json")], "is not a plain file or folder"),
    ([member("run-1/fifo", tarfile.FIFOTYPE)], "is not a plain file or folder"),
    ([member("run-1/run.json", content=b"{not json")], "run.json is unreadable"),
    ([member("run-1/notes.txt")], "run.json is unreadable"),
])
def test_a_run_sent_back_is_refused_unless_it_is_a_plain_valid_run(tmp_path, members, message):
    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(InvalidRun, match=re.escape(message)):
        receive_run(reports, "run-1", archive_of(members), identity="0" * 64)
    assert list(reports.iterdir()) == [] and not (tmp_path / "etc").exists() and not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("run_id", ["../run-1", "/tmp/run-1", "", None, "latest/.."])
def test_a_run_sent_back_must_have_a_plain_run_id(tmp_path, run_id):
    with pytest.raises(InvalidRun, match="is not a run id"):
        receive_run(tmp_path, run_id, archive_of([member("run-1/run.json")]), identity="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_a_packed_run_keeps_its_files(tmp_path):
    (tmp_path / "run-1" / "sub").mkdir(parents=True)
    (tmp_path / "run-1" / "run.json").write_text("{}")
    (tmp_path / "run-1" / "sub" / "x.bin").write_bytes(b"\0" * 10)
    with tarfile.open(fileobj=io.BytesIO(pack_run(tmp_path / "run-1"))) as archive:
        assert sorted(archive.getnames()) == ["run-1", "run-1/run.json", "run-1/sub", "run-1/sub/x.bin"]


def test_a_run_on_a_worker_is_not_held_to_the_nannys_thread_limits(monkeypatch):
    from digitlib.run.cluster import _report_environment

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what a Dask nanny sets for its worker's own threads
    monkeypatch.setenv("MKL_NUM_THREADS", "4")  # a limit the user chose stays
    monkeypatch.setenv("DIGITLIB_DATA_DIR", "/data/mnist")
    environment = _report_environment()
    assert "OMP_NUM_THREADS" not in environment and environment["MKL_NUM_THREADS"] == "4"
    assert environment["DIGITLIB_DATA_DIR"] == "/data/mnist"  # the worker's own, as for a local run


# Collecting a finished task ------------------------------------------------------------------------

class Finished:
    """A task's future as the client holds it once the task has ended."""

    def __init__(self, status="finished", answer=None, error=None):
        self.status, self.answer, self.error = status, answer, error

    def exception(self):
        return self.error

    def result(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def done(self):
        return self.status != "pending"


@pytest.mark.parametrize("future, error, fields", [
    (Finished("cancelled"), "the scheduler cancelled its task", []),
    (Finished("error", error="KilledWorker"), "workers kept dying while running it", []),
    (Finished("error", error="PayloadError"), "it raised PayloadError (not unpickled here", []),
    (Finished(answer=TypeError("Data serialized with pickle")), "a worker's answer was refused (TypeError", []),
    (Finished(answer={"status": "succeeded", "archive": "not bytes"}), "is not a run's outcome", ["worker"]),
    (Finished(answer={"status": "failed", "error": "bad usage", "worker": "tcp://w:1", "shared": False}), "bad usage",
     ["worker"]),
    (Finished(answer={"status": "succeeded", "run_id": "../out", "test_accuracy": 1.0, "worker": "w", "shared": True}),
     "was refused: '../out' is not a run id", ["worker"]),
    (Finished(answer={"status": "succeeded", "run_id": "r", "test_accuracy": 1.0, "worker": "w", "shared": False}),
     "sent neither the run nor word of a shared folder", ["worker"]),
    (Finished(answer={"status": "succeeded", "run_id": "r" * 10**6, "test_accuracy": 1.0, "worker": "w",
                      "shared": True}), "is not a run's outcome", ["worker"]),  # a million-character "line"
])
def test_a_task_that_brought_no_run_back_is_a_failed_outcome_of_its_run(tmp_path, future, error, fields):
    from digitlib.params import validate_parameters
    from digitlib.run.cluster import _collected
    from digitlib.run.sweep import PlannedRun

    run = PlannedRun(validate_parameters(model="fast"), "jax")
    outcome = _collected(future, run, tmp_path)
    assert (outcome.parameters, outcome.backend, outcome.status) == (run.parameters, "jax", "failed")
    assert error in outcome.error and outcome.run_id is None and outcome.test_accuracy is None
    assert list(outcome.as_dict()) == ["parameters", "backend", "status", "error", *fields]
    assert list(tmp_path.iterdir()) == []


def test_the_cluster_submits_each_run_as_a_fresh_task_and_cancels_the_unfinished_on_ctrl_c(tmp_path):
    from digitlib.params import validate_parameters
    from digitlib.run.cluster import _ClusterTransport, run_task
    from digitlib.run.sweep import PlannedRun

    class Client:
        loop, submitted, cancelled = None, [], []

        def submit(self, function, task, key, pure):
            self.submitted.append((function, task, key, pure))
            future = Finished("pending")
            future.key = key
            return future

        def cancel(self, futures):
            self.cancelled.extend(futures)

        def processing(self):  # what each worker is running: the first task (the second waits)
            return {"tcp://10.0.0.9:1234": [self.submitted[0][2]], "tcp://10.0.0.9:1235": []}

    client = Client()
    transport = _ClusterTransport(client, tmp_path / "reports", "t" * 32)
    run = PlannedRun(validate_parameters(model="fast"), "tensorflow", resume="old-run")
    running = [transport.submit(run), transport.submit(run)]
    (function, task, key, pure), (_, _, other, _) = client.submitted
    assert function is run_task and not pure and key != other and key.startswith("digitlib-run-")
    assert task == {"parameters": run.parameters, "backend": "tensorflow", "resume": "old-run",
                    "reports_dir": str((tmp_path / "reports").resolve()), "token": "t" * 32}
    assert transport.stop([*running, Finished()]) == (0, 1, 1) and client.cancelled == running
    from digitlib.run.sweep import SweepInterrupted

    assert str(SweepInterrupted(0, 1, 1)) == ("0 runs interrupted, 1 not started, 1 still running on their Dask "
                                              "workers, not collected: let them end before you run it again, or they "
                                              "run twice")


# A hostile worker ---------------------------------------------------------------------------------

HOSTILE = '''"""Preloaded into a `dask worker`: it answers each digitlib task with something hostile, by its seed."""
import os

import digitlib.run.cluster
from distributed.protocol.serialize import Serialized, serialize

MARKER = os.environ["HOSTILE_MARKER"]


class Payload:
    """Unpickled, it runs a shell command that writes the pid of the process that unpickled it."""
    def __reduce__(self):
        return (os.system, (f"echo $PPID >> {MARKER}",))


class PayloadError(Exception):
    def __reduce__(self):
        return (os.system, (f"echo $PPID >> {MARKER}",))


def data(outcome):
    return Serialized(*serialize(outcome, serializers=("msgpack",), on_error="raise"))


def hostile(task):
    seed = task["parameters"]["seed"]
    if seed == 1:
        return Payload()  # pickled by the worker
    if seed == 2:
        raise PayloadError("boom")  # an error, pickled
    if seed == 3:  # a claimed run outside the reports folder
        return data({"status": "succeeded", "run_id": "../../outside", "test_accuracy": 1.0, "worker": "w",
                     "shared": True})
    if seed == 4:  # a run that does not exist
        return data({"status": "succeeded", "run_id": "20261201-000000-00000000", "test_accuracy": 1.0,
                     "worker": "w", "shared": True})
    if seed == 5:  # a text accuracy
        return data({"status": "succeeded", "run_id": "x", "test_accuracy": "high", "worker": "w", "shared": True})
    return data({"status": "failed", "error": "\\x1b[2J\\x1b[31mscreen cleared", "worker": "\\x1b]0;title\\x07",
                 "shared": False})  # escape codes for the terminal


digitlib.run.cluster.run_task = digitlib.run.cluster.run_on_worker = hostile
'''


@pytest.mark.e2e  # make test, not test-quick: seconds of real processes or of a timeout
def test_a_hostile_worker_runs_nothing_in_the_sweep_and_its_claims_are_checked(tmp_path, mnist_dir, capfd):
    """A real worker, preloaded to answer with a pickled payload, a pickled error, a run id outside reports/, a
    run that does not exist, a text accuracy and terminal escape codes: each run fails with one clean line, and
    the payload never runs in the sweep's process (the client), nor is anything written outside reports/."""
    import io

    from digitlib.run.cluster import run_sweep_on_cluster
    from digitlib.run.sweep import load_sweep

    (tmp_path / "hostile.py").write_text(HOSTILE)
    marker = tmp_path / "unpickled-by"
    cluster = LocalCluster(tmp_path, mnist_dir)
    try:
        scratch = tmp_path / "worker"
        scratch.mkdir()
        environment = {**os.environ, "HOSTILE_MARKER": str(marker), "PYTHONPATH": f"{REPOSITORY}:{tmp_path}"}
        cluster.start(["worker", cluster.address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
                       "--local-directory", str(scratch), "--preload", "hostile"], "hostile", environment)
        cluster.wait_for_workers(1)
        (tmp_path / "sweep.yaml").write_text("name: hostile\ncommon: {model: fast, epochs: 1}\n"
                                             "grid: {seed: [1, 2, 3, 4, 5, 6]}\n")
        reports, log = tmp_path / "sweeps" / "reports", io.StringIO()
        outcomes = run_sweep_on_cluster(load_sweep(tmp_path / "sweep.yaml"), cluster.address, reports, log=log)
    finally:
        cluster.stop()
    assert str(os.getpid()) not in (marker.read_text().split() if marker.exists() else [])
    errors = {outcome.parameters["seed"]: outcome.error for outcome in outcomes}
    assert all(outcome.status == "failed" for outcome in outcomes) and sorted(errors) == [1, 2, 3, 4, 5, 6]
    assert "a worker's answer was refused (TypeError: Data serialized with" in errors[1]
    # (Dask's worker checks an error unpickles before sending it, runs the payload itself, and sends an Exception.)
    assert re.search(r"it raised (PayloadError|Exception) \(not unpickled here", errors[2]), errors[2]
    assert "'../../outside' is not a run id" in errors[3]
    assert "was refused: run.json is unreadable" in errors[4]
    assert "is not a run's outcome" in errors[5]
    assert errors[6] == "\\x1b[2J\\x1b[31mscreen cleared"
    assert "\x1b" not in log.getvalue() and "\\x1b[2J" in log.getvalue()
    assert "\x1b" not in capfd.readouterr().err  # nor through Dask's logs, which quote what peers send
    assert not (tmp_path / "outside").exists() and not list(reports.glob("*/mlflow.json"))
    assert sorted(path.name for path in reports.iterdir()) == []  # no run came back, no token file left


# What answers at the scheduler's address -----------------------------------------------------------

class Listener:
    """A TCP server on 127.0.0.1 that accepts connections and then says nothing, junk, or an HTTP error page."""

    def __init__(self, answer: bytes | None):
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.answer, self.connections = answer, []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            if self.answer is not None:
                connection.sendall(self.answer)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.server.close()


@pytest.mark.parametrize("answer", [None, b"\xff" * 64, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"],
                         ids=["silent", "junk", "http"])
@pytest.mark.e2e  # make test, not test-quick: seconds of real processes or of a timeout
def test_something_that_is_not_a_scheduler_is_one_line_within_the_timeout(tmp_path, answer):
    from digitlib.params import ParameterError
    from digitlib.run.cluster import connect

    listener = Listener(answer)
    started = time.monotonic()
    try:
        with pytest.raises(ParameterError, match=r"^cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:\d+' "
                                                 r"\(.+\); start one with `dask scheduler`") as raised:
            connect(listener.address, timeout=2)
    finally:
        listener.close()
    assert time.monotonic() - started < 10 and "\n" not in str(raised.value)


# Archives that would cost more than they hold -------------------------------------------------------

def test_an_archive_of_too_many_files_is_refused_at_the_first_file_too_many(tmp_path, monkeypatch):
    from digitlib.run.cluster import MAX_RUN_FILES

    archive = archive_of([member(f"run-1/{number}.txt", content=b"") for number in range(MAX_RUN_FILES * 5)])
    headers, read_header = [], tarfile.TarFile.next
    monkeypatch.setattr(tarfile.TarFile, "next", lambda self: headers.append(1) or read_header(self))
    with pytest.raises(InvalidRun, match="holds more than a run's 1000 files"):
        receive_run(tmp_path, "run-1", archive, identity="0" * 64)
    assert len(headers) <= MAX_RUN_FILES + 2  # not every header of the archive (a few MB can hold 400,000)
    assert list(tmp_path.iterdir()) == []


def test_an_archive_that_unpacks_to_far_more_than_its_size_is_refused_unpacked(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("run-1/junk")
        info.size = 200 * 1024**2  # zeros: a 200 MB file in a few hundred kB
        archive.addfile(info, io.BufferedReader(io.BytesIO(bytes(info.size))))
    with pytest.raises(InvalidRun, match="the archive unpacks to more than .* bytes, more than a run of its size"):
        receive_run(tmp_path, "run-1", buffer.getvalue(), identity="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_negative_size_cannot_make_room_for_a_file_beyond_the_limit(tmp_path):
    """tarfile ignores a folder's size, and a GNU header can hold a negative one: counted, -10 GiB let 300 MB of
    zeros through a limit of 39 MB."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT, compresslevel=1) as archive:
        folder = tarfile.TarInfo("run-1")
        folder.type, folder.size = tarfile.DIRTYPE, -10 * 1024**3
        archive.addfile(folder)
        info = tarfile.TarInfo("run-1/junk")
        info.size = 100 * 1024**2
        archive.addfile(info, io.BufferedReader(io.BytesIO(bytes(info.size))))
    with pytest.raises(InvalidRun, match="'run-1' is not a plain file or folder"):
        receive_run(tmp_path, "run-1", buffer.getvalue(), identity="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_a_header_of_hundreds_of_megabytes_is_refused_before_it_is_held_in_memory(tmp_path):
    """A GNU long name (or a pax header) is read into memory whole and counted nowhere: 400 MB of it in a 400 kB
    archive took 820 MiB before the archive was refused."""
    import tracemalloc

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT, compresslevel=1) as archive:
        archive.addfile(tarfile.TarInfo("run-1/" + "x" * (100 * 1024**2)), io.BytesIO(b""))
    archive = buffer.getvalue()
    del buffer
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRun, match="the archive unpacks to more than a run of its size holds"):
            receive_run(tmp_path, "run-1", archive, identity="0" * 64)
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert held < 60 * 1024**2, f"{held:,} bytes held"  # about the limit (33 MB here), not the 100 MB header
    assert list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_a_page_sent_back_is_rendered_again_here_and_a_run_left_running_lands_interrupted(tmp_path, report_run):
    """A worker's report.html may carry script: the page is rendered here, from the run's notebook, under the
    content security policy. A run.json still saying running (with a pid that lives here) lands interrupted."""
    import shutil

    from digitlib.rundir import identity_of, read_run

    sent = tmp_path / "worker" / report_run.name
    shutil.copytree(report_run, sent)
    (sent / "report.html").write_text("<html><body><script>document.title = 'ran'</script></body></html>")
    record = json.loads((sent / "run.json").read_text())
    record.update(status="running", pid=os.getpid())
    (sent / "run.json").write_text(json.dumps(record))
    reports = tmp_path / "reports"
    reports.mkdir()
    run_dir, received = receive_run(reports, sent.name, pack_run(sent), identity_of(read_run(report_run)),
                                    worker="tcp://10.0.0.9:40000")
    page = (run_dir / "report.html").read_text()
    assert "document.title" not in page  # the page is digitlib's, from the run's notebook, under its policy:
    assert 'http-equiv="Content-Security-Policy"' in page and "test accuracy" in page
    assert received.status == read_run(run_dir).status == "interrupted"
    assert received.error == "its process on worker tcp://10.0.0.9:40000 ended without finishing"

    (sent / "report.html").unlink()
    (sent / "report.html").mkdir()  # a folder where the page goes: refused, the sweep goes on
    with pytest.raises(InvalidRun, match=r"its files are not a run's \(IsADirectoryError\)"):
        receive_run(reports, sent.name, pack_run(sent), identity_of(read_run(report_run)))
    assert sorted(path.name for path in reports.iterdir()) == [run_dir.name]


@pytest.mark.e2e
@pytest.mark.full  # Dask's TLS: a scheduler and a worker that admit only holders of the cluster's certificate
def test_a_sweep_runs_over_tls_with_dasks_own_configuration_and_strangers_are_refused(tmp_path, mnist_dir):
    from distributed.security import Security

    def files(name: str, security: Security) -> dict[str, str]:
        paths = {}
        for kind, pem in (("ca", security.tls_ca_file), ("cert", security.tls_client_cert),
                          ("key", security.tls_client_key)):
            paths[kind] = str(tmp_path / f"{name}-{kind}.pem")
            Path(paths[kind]).write_text(pem)
        return paths

    ours, stranger = files("ours", Security.temporary()), files("stranger", Security.temporary())
    tls = ["--tls-ca-file", ours["ca"], "--tls-cert", ours["cert"], "--tls-key", ours["key"]]
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    cluster = LocalCluster.__new__(LocalCluster)
    cluster.folder, cluster.processes = tmp_path, []
    cluster.start(["scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
                   "--dashboard-address", f"127.0.0.1:{free_port()}", *tls], "scheduler", os.environ)
    (tmp_path / "worker").mkdir()
    cluster.start(["worker", address, "--nthreads", "1", "--no-nanny", "--local-directory", str(tmp_path / "worker"),
                   *tls], "worker", {**os.environ, "PYTHONPATH": str(REPOSITORY), "DIGITLIB_COPY_BACK": "1"})

    def sweep(keys: dict[str, str] | None) -> subprocess.CompletedProcess:
        settings = {f"DASK_DISTRIBUTED__COMM__TLS__{name}": keys[kind] for name, kind in
                    (("CA_FILE", "ca"), ("CLIENT__CERT", "cert"), ("CLIENT__KEY", "key"))} if keys else {}
        return subprocess.run([sys.executable, "-m", "digitlib", "sweep", "sweep.yaml", "--scheduler", address,
                               "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **settings, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"})
    try:
        (tmp_path / "sweep.yaml").write_text("name: tls\nruns:\n  - {model: fast, data_dir: /nonexistent/mnist, "
                                             "epochs: 1}\n")
        for keys, reason in ((None, "tls:// needs Dask's TLS files"), (stranger, "")):
            refused = sweep(keys)
            assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr[-2000:]
            assert refused.stderr.startswith(f"digitlib: error: cannot reach the Dask scheduler at '{address}'")
            assert reason in refused.stderr
        assert not (tmp_path / "reports").exists()
        result = sweep(ours)
    finally:
        cluster.stop()
    assert result.returncode == 1, result.stderr[-3000:]  # the run fails on the worker (no data there), as asked
    [run] = json.loads(result.stdout)["runs"]
    assert run["status"] == "failed" and "DataError" in run["error"] and run["worker"].startswith("tls://127.0.0.1:")
    assert (tmp_path / "reports" / run["run_id"] / "run.json").is_file()  # sent back over TLS, received here
    assert "is neither encrypted nor authenticated" not in result.stderr


def test_while_a_sweep_talks_to_the_cluster_dasks_decoder_unpickles_nothing(tmp_path):
    """Dask's decoder loads ``__Pickled__`` items whatever the deserializers; a scheduler taken over could send one."""
    from distributed.protocol import core
    from distributed.protocol.serialize import ToPickle

    from digitlib.run.cluster import _unpickling_refused

    marker = tmp_path / "ran"
    frames = core.dumps({"op": "key-in-memory", "type": ToPickle(Payload(marker))})
    with _unpickling_refused(), pytest.raises(TypeError, match="unpickles nothing that comes from the cluster"):
        core.loads(frames)
    assert not marker.exists()
    core.loads(frames)  # outside a sweep Dask is as it was (and the payload runs: what the sweep refuses)
    assert marker.exists()


class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_shared_run_whose_notebook_does_not_render_is_refused_and_stays_failed(tmp_path):
    """Its page, which the worker wrote, is removed (it could carry anything): the run was left 'succeeded' without
    one, so the next sweep skipped it as done."""
    from digitlib.run.cluster import read_shared_run
    from digitlib.rundir import identity_of, read_run
    from test_rundir import trained_run

    run_dir = trained_run(tmp_path, "20261125-100000-shared")
    (run_dir / "notebook.ipynb").write_text("not a notebook")
    (run_dir / "report.html").write_text("<meta http-equiv=refresh content='0;url=https://example.invalid'>")
    with pytest.raises(InvalidRun, match=r"its notebook\.ipynb does not render \(NotJSONError\)"):
        read_shared_run(tmp_path, run_dir.name, identity_of(read_run(run_dir)), "tcp://10.0.0.9:1234")
    record = read_run(run_dir)
    assert (record.status, record.error) == (
        "failed", "refused here: its notebook.ipynb does not render (NotJSONError)")
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize("scheduler, unprotected", [
    ("tcp://10.0.0.5:8786", True), ("10.0.0.5:8786", True), ("ws://10.0.0.5:8786", True),
    ("tcp://127.0.0.1:8786", False), ("ws://localhost:8786", False), ("tls://10.0.0.5:8786", False),
    ("wss://10.0.0.5:8786", False),
])
def test_a_scheduler_reached_without_tls_over_a_network_is_warned_of(scheduler, unprotected):
    from digitlib.run.cluster import _unprotected

    assert _unprotected(scheduler) is unprotected

