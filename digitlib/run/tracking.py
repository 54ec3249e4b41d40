"""Finished runs logged to MLflow, where practitioners already look.

The run directory stays the source of truth; MLflow gets a copy of it, after the fact, from whichever
process has the finished directory: `digitlib report` logs its own run, a sweep logs each run it started (a
run from a Dask worker once it is received) as a child of a parent run named after the sweep. A run becomes
one MLflow run with the run's real start and end times: its parameters (:func:`run_parameters`: a file or folder
by its name alone), per-epoch metrics (step = epoch), final test metrics, tags (:func:`run_tags`: model, backend,
device, git commit, the data's SHA-256s; no local path) and its files (:data:`ARTIFACTS`); ``mlflow.json`` in the
run directory records the MLflow run it became.

Tracking is on when a URI is given (``--mlflow URI``, else ``$MLFLOW_TRACKING_URI``) and MLflow is
installed (the ``mlflow`` extra). The URI is checked before anything runs (:func:`check_uri`): a bad one is a
:class:`~digitlib.params.ParameterError`. MLflow itself runs in a worker process (``python -m
digitlib.run.tracking``), started on first use, that answers each call within ``$DIGITLIB_MLFLOW_TIMEOUT`` seconds
or is killed, and holds at most :data:`MEMORY_LIMIT` bytes: a tracking server that is down, hangs, trickles
or floods costs seconds and one warning line, and MLflow's prints and logs never reach the terminal. The
first failure turns tracking off for the rest of the command, and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from datetime import datetime
from importlib.util import find_spec
from itertools import accumulate
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

from ..atomic import write_atomic
from ..layout import METRICS_FILE, MLFLOW_FILE, MODEL_FILE, NOTEBOOK_FILE, REPORT_FILE, RUN_FILE, SWEEP_FILE
from ..params import ParameterError, notebook
from ..rundir import InvalidRun, read_metrics, read_record
from ..untrusted import open_regular_file, printable

if TYPE_CHECKING:
    from .sweep import Outcome

TRACKING_URI = "MLFLOW_TRACKING_URI"
EXPERIMENT = "digitlib"  # the experiment runs go to, unless $MLFLOW_EXPERIMENT_NAME or $MLFLOW_EXPERIMENT_ID says
ARTIFACTS = (REPORT_FILE, METRICS_FILE, MODEL_FILE, NOTEBOOK_FILE, RUN_FILE)  # those the run has
# MLflow retries a failed request 7 times with exponential backoff, honours any Retry-After and waits 120 s
# for an answer: minutes for a server that is down or hangs. These keep it to seconds; a variable set wins.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # urllib3 waits nothing before the first retry
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",  # seconds to connect, and between bytes of the answer
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
}
# Those limits are per request and per read: a server that sends a byte every few seconds passes them for ever.
# So each call to MLflow (logging a run, starting or ending a sweep) has this many seconds in all, or is killed.
TIMEOUT = "DIGITLIB_MLFLOW_TIMEOUT"
DEFAULT_TIMEOUT = 60.0  # a model of a few MB to a server across the world; a run of minutes to hours before it
START_LIMIT = 120.0  # seconds for the worker to start and import MLflow: a few, more on a loaded machine
MEMORY_LIMIT = 1 << 30  # bytes of data the worker may hold (it needs about 300 MB): a huge answer ends there
OUT_OF_MEMORY = f"MLflow needed more than the {MEMORY_LIMIT >> 20} MiB it may use: an answer too large?"
ANSWER_LIMIT = 1 << 20  # bytes of one answer line from the worker (its own JSON, a few hundred bytes)
# Schemes MLflow has a tracking store for (mlflow/tracking/_tracking_service/utils.py), besides plugins'
STORE_SCHEMES = {"", "file", "http", "https", "databricks", "databricks-uc", "uc", "postgresql", "mysql", "sqlite",
                 "mssql"}
DATABASES = ("postgresql", "mysql", "sqlite", "mssql")  # with a driver too: postgresql+psycopg2://
FILE_STORE_OPT_OUT = "MLFLOW_ALLOW_FILE_STORE"
FILE_STORE_REFUSED = (3, 13)  # MLflow refuses a file store (./mlruns) from 3.13 on, unless opted out
SQLITE_HEADER = b"SQLite format 3\x00"
URI_HINT = "give e.g. http://HOST:PORT or sqlite:///mlflow.db, or --mlflow '' for no tracking"
STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "timed out": "FAILED", "interrupted": "KILLED",
            "running": "KILLED", "rendering": "KILLED"}
MAX_PARAM_CHARS, MAX_TAG_CHARS = 6000, 5000
BATCH = 1000  # MLflow's log_batch takes at most 1,000 metrics, 100 parameters and 100 tags per call


def tracker_for(uri: str | None, log: TextIO | None = None) -> Tracker | None:
    """The tracker of `--mlflow URI` (`uri`; None when the option was not given), else of $MLFLOW_TRACKING_URI;
    None when neither names one (an empty URI turns tracking off).

    Asked for by --mlflow without MLflow installed, it is a ParameterError (before anything runs); with only the
    variable set, MLflow not installed means no tracking, as for any program that does not use MLflow. A URI
    MLflow cannot use is a ParameterError either way (:func:`check_uri`).
    """
    chosen = (uri if uri is not None else os.environ.get(TRACKING_URI, "")).strip()
    if not chosen:
        return None
    if find_spec("mlflow") is None:  # finds the package without importing it
        if uri is None:
            return None
        raise ParameterError("--mlflow needs MLflow: install digitlib with its mlflow extra "
                             "(pip install 'digitlib[mlflow]')")
    return Tracker(chosen, log=log, given_as="--mlflow" if uri is not None else f"${TRACKING_URI}")


def untracked(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` for a `digitlib report` that a sweep starts: without $MLFLOW_TRACKING_URI, since the sweep
    logs the run itself, as a child of its own."""
    return {name: value for name, value in environment.items() if name != TRACKING_URI}


def shown(uri: str) -> str:
    """`uri` without a password or token it may carry (user:secret@host), for messages and mlflow.json; also when
    it does not parse."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # http://user:secret@[::1 -- still no secret shown
        return re.sub(r"//[^/?#]*@", "//", uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_uri(uri: str, given_as: str = "the MLflow tracking URI") -> None:
    """Raise ParameterError, naming `given_as` (--mlflow, $MLFLOW_TRACKING_URI), unless MLflow can use `uri`:
    a URL that parses (an http one with a host), a scheme MLflow has a store for, a SQLite file that is one (or a
    new one, in a folder that exists), a file store only where the installed MLflow takes one.

    Checked without MLflow and without the network, before the run: MLflow would fail only after it (a traceback,
    or 100 s of retries for a SQLite file it cannot open), or make the folders of a mistyped SQLite path.
    """
    named = f"{given_as} '{printable(shown(uri))}'"
    if not uri.isprintable():
        raise ParameterError(f"{named} is not a URI (a control character); {URI_HINT}")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - parses the port: out of range or not a number raises
    except ValueError as error:
        raise ParameterError(f"{named} is not a URI ({error}); {URI_HINT}") from None
    scheme = parts.scheme.lower()
    store = next((database for database in DATABASES if scheme.startswith(database)), scheme)
    if uri in ("databricks", "databricks-uc", "uc"):
        return
    if store not in STORE_SCHEMES and store not in _plugin_schemes():
        raise ParameterError(f"{named}: MLflow has no tracking store for {printable(scheme)}: URIs; {URI_HINT}")
    if store in ("http", "https") and not parts.hostname:
        raise ParameterError(f"{named} names no host; give {store}://HOST[:PORT]")
    if store == "sqlite":
        _check_sqlite(uri, named)
    if store in ("", "file"):
        refusing = _file_store_refused()
        if refusing and os.environ.get(FILE_STORE_OPT_OUT, "").strip().lower() not in ("true", "1"):
            raise ParameterError(f"{named} is a file store, which MLflow {refusing} refuses unless "
                                 f"{FILE_STORE_OPT_OUT}=true is set; log to a database (sqlite:///mlflow.db) "
                                 "instead, or set the variable")


def _plugin_schemes() -> set[str]:
    """The schemes of tracking stores that installed MLflow plugins add."""
    from importlib.metadata import entry_points

    return {entry.name for entry in entry_points(group="mlflow.tracking_store")}


def _check_sqlite(uri: str, named: str) -> None:
    """Refuse a SQLite store MLflow cannot open: a file that is not a SQLite database, or not a file; a new file
    in a folder that does not exist or that cannot be written."""
    rest = uri.split(":", 1)[1]
    if rest == "//":  # sqlite:// -- in memory
        return
    if not rest.startswith("///"):
        raise ParameterError(f"{named} names no file: write sqlite:///FILE.db (sqlite:////PATH for an absolute one)")
    path = Path(unquote(rest[3:].split("?", 1)[0]))
    if str(path) in (".", ":memory:"):
        return
    where = printable(path)
    if path.exists():
        try:
            with open_regular_file(path, ParameterError) as file:
                header = file.read(len(SQLITE_HEADER))
        except ParameterError:
            raise ParameterError(f"{named}: {where} is not a regular file; name an MLflow SQLite database, or a new "
                                 "file") from None
        except OSError as error:
            raise ParameterError(f"{named}: cannot read {where} ({error.strerror})") from None
        if header and header != SQLITE_HEADER:  # an empty file is an empty database
            raise ParameterError(f"{named}: {where} is not a SQLite database; name an MLflow SQLite database, or a "
                                 "new file")
        if not os.access(path, os.W_OK):
            raise ParameterError(f"{named}: cannot write to {where}; name a database you can write to")
    elif not path.parent.is_dir():  # MLflow would make the folders: a mistyped path would leave them behind
        raise ParameterError(f"{named}: the folder {printable(path.parent)} does not exist; create it first, or "
                             "name a file in a folder that exists")
    elif not os.access(path.parent, os.W_OK | os.X_OK):
        raise ParameterError(f"{named}: cannot create a file in {printable(path.parent)}; name a folder you can "
                             "write to")


def _file_store_refused() -> str | None:
    """The installed MLflow's version when it refuses a file store without $MLFLOW_ALLOW_FILE_STORE, else None."""
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("mlflow", "mlflow-skinny"):
        with contextlib.suppress(PackageNotFoundError):
            installed = version(distribution)
            numbers = tuple(int(number) for number in re.findall(r"\d+", installed)[:2])
            return installed if numbers >= FILE_STORE_REFUSED else None
    return None


def _timeout() -> float:
    """Seconds each call to MLflow may take: $DIGITLIB_MLFLOW_TIMEOUT, else :data:`DEFAULT_TIMEOUT`."""
    text = os.environ.get(TIMEOUT, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ParameterError(f"${TIMEOUT} must be a positive number of seconds, got '{printable(text)}'")
    return seconds


def _ms(timestamp: str | None) -> int | None:
    """An ISO time from run.json in milliseconds since the epoch, as MLflow keeps times."""
    try:
        return int(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None
    except ValueError:
        return None


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def run_parameters(record: Mapping[str, Any]) -> dict[str, str]:
    """A run's parameters as MLflow keeps them: text; numbers and null as YAML and JSON write them. A file or folder
    (``data_dir``; a comparison's runs, a prediction's images and model) by its name alone, as the tags name the data:
    no local path (run.json holds it resolved, absolute)."""
    paths = {parameter.name for parameter in notebook(record["notebook_name"]).parameters if parameter.path}

    def named(value: Any) -> Any:
        if isinstance(value, list):
            return [named(item) for item in value]
        return Path(value).name if isinstance(value, str) else value

    return {name: _text(named(value) if name in paths else value, MAX_PARAM_CHARS)
            for name, value in record["parameters"].items()}


def run_tags(record: Mapping[str, Any], metrics: Mapping[str, Any] | None, parent: str | None = None) -> dict[str, str]:
    """Tags: what ran (model, backend, notebook, status), where (device, git commit), on what data (its folder's or
    file's name and SHA-256s). No local path: a tracking server is often shared, and the run id names the run's
    folder in reports/."""
    from ..train.provenance import device_label

    tags = {"mlflow.runName": record["run_id"], "mlflow.source.name": "digitlib report",
            "mlflow.source.type": "LOCAL", "digitlib.run_id": record["run_id"],
            "digitlib.notebook": record["notebook_name"], "digitlib.status": record["status"]}
    backend = record.get("backend") or (metrics or {}).get("reproducibility", {}).get("backend")
    optional = {"digitlib.model": record["parameters"].get("model"), "digitlib.backend": backend,
                "digitlib.model_version": record.get("model_version"), "digitlib.identity": record.get("identity"),
                "digitlib.error": record.get("error"), "mlflow.parentRunId": parent}
    if metrics is not None:
        environment = metrics["environment"]
        device = environment["device"]
        commit = environment.get("git_commit")
        optional.update({
            "digitlib.device": device_label(device) if device.get("count") else device["name"],
            "digitlib.device_type": device["type"], "digitlib.git_commit": commit,
            "mlflow.source.git.commit": commit.removesuffix("-dirty") if commit else None,
            "digitlib.versions": environment["versions"],
            "digitlib.data_source": Path(metrics["data"]["source"]).name,  # mnist, mnist.npz: not where it lies
            **{f"digitlib.data.sha256.{name}": sha256 for name, sha256 in metrics["data"]["sha256"].items()},
        })
    tags.update({name: _text(value, MAX_TAG_CHARS) for name, value in optional.items() if value is not None})
    return tags


def sweep_tags(name: str, sweep_file: str | os.PathLike) -> dict[str, str]:
    """A sweep's parent run's tags: its name and its file's name (the file is an artifact of it)."""
    return {"mlflow.runName": name, "mlflow.source.name": "digitlib sweep", "mlflow.source.type": "LOCAL",
            "digitlib.sweep": name, "digitlib.sweep_file": Path(sweep_file).name}


def sweep_metrics(outcomes: list[Outcome], logged_runs: int, status: str = "FINISHED") -> dict[str, float]:
    """A sweep's parent run's metrics: the runs logged as its children; once it has finished (`status`), how many
    runs it had, skipped and failed; the best test accuracy."""
    counts: dict[str, float] = {"logged_runs": logged_runs}
    if status == "FINISHED":
        counts.update(runs=len(outcomes), skipped=sum(o.status == "skipped" for o in outcomes),
                      failed=sum(o.failed for o in outcomes))
    accuracies = [o.test_accuracy for o in outcomes if o.test_accuracy is not None]
    if accuracies:
        counts["best_test_accuracy"] = max(accuracies)
    return counts


def run_metrics(record: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> list[tuple[str, float, int, int]]:
    """(name, value, timestamp in ms, step) for every metric of a run: each epoch's history at step = epoch
    (stamped at the run's start plus the epochs' durations), then the final numbers at step 0."""
    started, finished = _ms(record.get("started")) or 0, _ms(record.get("finished")) or int(time.time() * 1000)
    logged = [("wall_seconds", record["wall_seconds"], finished, 0)] if "wall_seconds" in record else []
    if metrics is None:
        return logged
    training = metrics["training"]
    ends = [started + int(seconds * 1000) for seconds in accumulate(training["epoch_seconds"])]

    def stamp(epoch: int) -> int:
        return ends[min(epoch, len(ends)) - 1]

    series = {**training["history"], "epoch_seconds": training["epoch_seconds"]}
    for name, values in series.items():
        logged += [(name, value, stamp(epoch), epoch) for epoch, value in enumerate(values, 1)]
    final = {f"test_{name}": metrics["test"][name] for name in ("accuracy", "loss", "mistakes", "images")}
    final.update({name: training[name] for name in ("train_seconds", "train_images", "validation_images",
                                                    "model_parameters")})
    for digit, scores in metrics["per_class"].items():
        final.update({f"test_{name}_{digit}": scores[name] for name in ("precision", "recall", "f1")})
    calibration = metrics.get("calibration") or {}
    final.update({f"calibration_{name}": value for name, value in calibration.items() if name != "bins"})
    robustness = metrics.get("robustness") or {}
    final.update({f"robustness_{name}": robustness[name] for name in ("clean_accuracy", "mean_accuracy")
                  if name in robustness})
    final.update({f"robustness_{shift}": value for shift, value in robustness.get("accuracy", {}).items()})
    for member in training.get("members", []):
        final.update({f"member_seed{member['seed']}_{name}": member.get(name)
                      for name in ("test_accuracy", "val_accuracy", "train_seconds")})
    return logged + [(name, value, finished, 0) for name, value in final.items()
                     if isinstance(value, int | float) and not isinstance(value, bool)]


def _reason(error: BaseException) -> str:
    """Why a request failed, in a few words: MLflow's messages carry whole URLs and tracebacks of causes."""
    cause: BaseException | None = error
    for _ in range(20):  # MLflow wraps a MemoryError in an exception of its own, with an empty message
        if cause is None:
            break
        if isinstance(cause, MemoryError):
            return OUT_OF_MEMORY
        cause = cause.__cause__ or cause.__context__
    message = str(error)
    refused = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", message)
    if refused:
        return refused.group(1).strip()
    code = re.search(r"error code (\d{3})", message)
    if code:
        return f"the server answered HTTP {code.group(1)}"
    cause = re.search(r"Caused by \w+\((['\"])(.*?)\1\)", message)  # urllib3's: the last retry's failure
    if cause:
        return cause.group(2).rsplit("): ", 1)[-1]
    first = (message.splitlines() or [type(error).__name__])[0]
    return first if len(first) <= 200 else first[:199] + "…"


class _Failed(Exception):
    """MLflow did not do what it was asked; the message says why, in a few words."""


def _regular_file(path: Path) -> bool:
    """Whether `path` is a regular file itself, not a link to one elsewhere (that would be uploaded too)."""
    return path.is_file() and not path.is_symlink()


class Tracker:
    """Logs finished run directories (and a sweep, as a parent run) to the MLflow tracking server or store at
    `uri`; prints one line per logged report or sweep to `log`, and at most one warning, to stderr.

    `uri` is checked at once (:func:`check_uri`, a ParameterError naming `given_as`), as is $DIGITLIB_MLFLOW_TIMEOUT;
    each call then takes at most that timeout (after MLflow has started, within :data:`START_LIMIT`).
    """

    def __init__(self, uri: str, log: TextIO | None = None, *, given_as: str = "the MLflow tracking URI"):
        check_uri(uri, given_as)
        self.uri, self.log, self.timeout = uri, log, _timeout()
        self.parent: str | None = None  # the sweep's MLflow run, while a sweep is logged
        self.children = 0
        self.off = False  # after a failure: nothing more is tried
        self._worker: _Worker | None = None
        self._experiment: str | None = None

    def _call(self, job: dict[str, Any]) -> str:
        """Have the worker do `job` (:func:`_perform`) within the timeout; the MLflow run's id. Raises _Failed.

        The worker is started on first use, where something listens at an http(s) URI: one that is down costs no
        start of MLflow. A worker that fails, overruns or is interrupted (Ctrl-C) is stopped: it may be mid-call.
        """
        try:
            if self._worker is None:
                _check_reachable(self.uri, self.timeout)
                self._worker = _Worker(self.uri)
            answer = self._worker.call(job, self.timeout)
        except BaseException:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
            raise
        experiment, run_id = answer.get("experiment"), answer.get("run_id")
        if not (isinstance(experiment, str) and isinstance(run_id, str)):  # the server's ids, through MLflow
            raise _Failed("MLflow answered no run id")
        self._experiment = experiment
        return run_id

    def _fail(self, what: str, error: BaseException) -> None:
        self.off = True
        reason = str(error) if isinstance(error, _Failed) else _reason(error)
        print(f"digitlib: warning: could not log {printable(what)} to MLflow at {printable(shown(self.uri))} "
              f"({printable(reason)}); nothing more is logged to MLflow by this command, the run directory holds "
              "everything", file=sys.stderr, flush=True)

    def _where(self, mlflow_run: str) -> str:
        """Where an MLflow run is: its page in the server's UI, or its id and experiment in another store."""
        where, experiment, mlflow_run = printable(shown(self.uri)), printable(self._experiment), printable(mlflow_run)
        if urlsplit(self.uri).scheme in ("http", "https"):
            return f"{where.rstrip('/')}/#/experiments/{experiment}/runs/{mlflow_run}"
        return f"{mlflow_run} in experiment {experiment} of {where}"

    def _say(self, line: str) -> None:
        print(line, file=self.log or sys.stdout, flush=True)

    def log_run(self, run_dir: str | os.PathLike, *, announce: bool = True) -> str | None:
        """Log the finished run directory `run_dir` as one MLflow run (a child of the sweep's, in a sweep); its
        MLflow run id, or None when logging failed (warned) or is off after a failure."""
        if self.off:
            return None
        run_dir = Path(run_dir)
        try:
            record, metrics = read_record(run_dir), read_metrics(run_dir)
        except InvalidRun as problem:  # this run's files, not the server: the next run is logged as ever
            print(f"digitlib: warning: run {printable(run_dir.name)} is not logged to MLflow: its files do not "
                  f"validate ({printable(str(problem))})", file=sys.stderr, flush=True)
            return None
        try:
            mlflow_run = self._call({
                "tags": run_tags(record, metrics, self.parent), "start_time": _ms(record["started"]),
                "params": run_parameters(record), "metrics": run_metrics(record, metrics),
                "artifacts": [str((run_dir / name).absolute()) for name in ARTIFACTS if _regular_file(run_dir / name)],
                "status": STATUSES[record["status"]], "end_time": _ms(record.get("finished"))})
        except Exception as error:  # noqa: BLE001 - any failure of tracking leaves the run as it is
            self._fail(f"run {run_dir.name}", error)
            return None
        self.children += self.parent is not None
        with contextlib.suppress(OSError):  # only a note: the run is in MLflow either way
            write_atomic(run_dir / MLFLOW_FILE, json.dumps(
                {"tracking_uri": shown(self.uri), "experiment_id": self._experiment, "run_id": mlflow_run,
                 "parent_run_id": self.parent}, indent=2) + "\n")
        if announce:
            self._say(f"MLflow: run {printable(run_dir.name)} logged as {self._where(mlflow_run)}")
        return mlflow_run

    def start_sweep(self, name: str, sweep_file: str | os.PathLike) -> str | None:
        """A parent run named after the sweep, holding its file; the runs logged until :meth:`finish_sweep`
        become its children."""
        if self.off:
            return None
        try:
            self.parent = self._call({"tags": sweep_tags(name, sweep_file),
                                      "artifacts": [str(Path(sweep_file).absolute())]})
        except Exception as error:  # noqa: BLE001
            self._fail(f"sweep {name}", error)
        return self.parent

    def finish_sweep(self, name: str, outcomes: list[Outcome], comparison: Path | None = None,
                     status: str = "FINISHED") -> None:
        """End the sweep's parent run with `status` (KILLED: interrupted, FAILED: stopped by an error): counts of
        its runs, the best test accuracy, the comparison report."""
        if self.off or self.parent is None:
            return
        counts = sweep_metrics(outcomes, self.children, status)
        # reports/sweep-NAME/: comparison.html (a link to the comparison run's report) and sweep.json
        files = [Path(comparison), Path(comparison).parent / SWEEP_FILE] if comparison else []
        now = int(time.time() * 1000)
        try:
            self._call({"run_id": self.parent, "metrics": [(key, value, now, 0) for key, value in counts.items()],
                        "artifacts": [str(path.absolute()) for path in files if path.is_file()],  # links it made
                        "status": status})
        except Exception as error:  # noqa: BLE001
            self._fail(f"sweep {name}", error)
            return
        self._say(f"MLflow: sweep {printable(name)} and {self.children} run{'' if self.children == 1 else 's'} "
                  f"logged as {self._where(self.parent)}")


def _check_reachable(uri: str, timeout: float) -> None:
    """Raise OSError when nothing listens at an http(s) URI's host and port (within MLflow's request timeout)."""
    import socket

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    limit = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or HTTP_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    socket.create_connection((parts.hostname, port), timeout=min(limit, timeout)).close()


class _Worker:
    """A `python -m digitlib.run.tracking` process that makes the MLflow calls for a Tracker: one JSON job a line on its
    stdin, one JSON answer a line on its stdout. Its stderr goes nowhere: MLflow's, alembic's and urllib3's log
    lines, and a traceback, are not the user's business; it answers with the reason instead."""

    def __init__(self, uri: str):
        package_root = str(Path(__file__).resolve().parents[2])  # digitlib/run/tracking.py -> what holds digitlib
        environment = {**HTTP_LIMITS, **os.environ, TRACKING_URI: uri,  # the URI in its environment, not argv (ps)
                       "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
                       # it computes nothing: no thread pool of BLAS, whose stacks would count against its memory
                       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # -P: not the current folder first on sys.path, where a file named mlflow.py would be imported instead
        self.process = subprocess.Popen([sys.executable, "-P", "-m", "digitlib.run.tracking"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment)
        self.answers: queue.Queue[bytes] = queue.Queue()
        # reads answers as they come, so that waiting for one has a deadline; holds no reference to self
        threading.Thread(target=_read_answers, args=(self.process.stdout, self.answers), daemon=True).start()
        self._finalizer = weakref.finalize(self, _stop, self.process, gently=True)
        try:
            self._answer(START_LIMIT, f"MLflow did not start within {START_LIMIT:g} s")
        except BaseException:
            self.stop()
            raise

    def call(self, job: Mapping[str, Any], seconds: float) -> dict[str, Any]:
        """The worker's answer to `job`, within `seconds`. Raises _Failed."""
        try:
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:  # it died meanwhile
            raise _Failed(self._ended()) from None
        return self._answer(seconds, f"no answer within {seconds:g} s: ${TIMEOUT} sets how long to wait")

    def _answer(self, seconds: float, late: str) -> dict[str, Any]:
        try:
            line = self.answers.get(timeout=seconds)
        except queue.Empty:
            raise _Failed(late) from None
        if not line:
            raise _Failed(self._ended())
        try:
            answer = json.loads(line)
        except ValueError:
            raise _Failed("the MLflow worker's answer was garbled") from None
        if "error" in answer:
            raise _Failed(str(answer["error"]))
        return answer

    def _ended(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return f"the MLflow worker ended with exit status {self.process.wait(timeout=5)}"
        return "the MLflow worker stopped answering"

    def stop(self) -> None:
        """Kill the worker (it may be mid-call) and reap it."""
        self._finalizer.detach()
        _stop(self.process, gently=False)


def _read_answers(stream: IO[bytes], answers: queue.Queue[bytes]) -> None:
    """Put each line of `stream` (at most :data:`ANSWER_LIMIT` bytes) on `answers`, and b"" at its end."""
    with contextlib.suppress(OSError, ValueError):
        for line in iter(lambda: stream.readline(ANSWER_LIMIT), b""):
            answers.put(line)
    answers.put(b"")


def _stop(process: subprocess.Popen, gently: bool) -> None:
    """Stop a worker: `gently`, by ending its input (it is idle: the Tracker is gone), else killed."""
    with contextlib.suppress(OSError):
        process.stdin.close()
    if gently:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
            return
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()


def _serve() -> None:
    """The worker (python -m digitlib.run.tracking): MLflow with the URI of $MLFLOW_TRACKING_URI; for each job read from
    stdin, {"experiment", "run_id"} or {"error": why} on stdout, after {"ready": true} once MLflow is imported."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's, which then stops the worker itself
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what MLflow prints ("View run") goes nowhere
    _limit_memory()
    parent = os.getppid()
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")

    def answer(**fields: Any) -> None:
        answers.write(json.dumps(fields) + "\n")
        answers.flush()

    try:
        from mlflow import MlflowClient
    except BaseException as error:  # noqa: BLE001 - a broken install: say why, as any failure
        answer(error=f"MLflow could not be imported: {_reason(error)}")
        return
    answer(ready=True)
    client, experiment = None, None
    for line in sys.stdin:
        try:
            client = client or MlflowClient(tracking_uri=os.environ[TRACKING_URI])
            experiment = experiment or _experiment_of(client)
            answer(experiment=experiment, run_id=_perform(client, experiment, json.loads(line)))
        except Exception as error:  # noqa: BLE001 - each failure is an answer (a MemoryError too): the Tracker warns
            answer(error=_reason(error))


def _limit_memory() -> None:
    """Keep the worker's data under :data:`MEMORY_LIMIT`: a server's answer of gigabytes is a MemoryError."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _end_with(parent: int) -> None:
    """End the worker once its parent has (its pipe may not close while a call hangs)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _perform(client, experiment: str, job: Mapping[str, Any]) -> str:
    """One job: create a run in `experiment` with its "tags" and "start_time" (or take its "run_id"), log its
    "params", "metrics" and "artifacts" (file paths), end it with "status" and "end_time" if given; the run's id."""
    run_id = job.get("run_id") or client.create_run(experiment, start_time=job.get("start_time"),
                                                    tags=job.get("tags", {})).info.run_id
    _log_batch(client, run_id, job.get("params", {}), job.get("metrics", []))
    for path in job.get("artifacts", []):
        client.log_artifact(run_id, path)
    if job.get("status"):
        client.set_terminated(run_id, status=job["status"], end_time=job.get("end_time"))
    return run_id


def _experiment_of(client) -> str:
    """The experiment's id: $MLFLOW_EXPERIMENT_ID, else the one named $MLFLOW_EXPERIMENT_NAME or `digitlib`,
    created if need be."""
    from mlflow.environment_variables import MLFLOW_EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME
    from mlflow.exceptions import MlflowException

    if MLFLOW_EXPERIMENT_ID.get():
        return client.get_experiment(MLFLOW_EXPERIMENT_ID.get()).experiment_id
    name = MLFLOW_EXPERIMENT_NAME.get() or EXPERIMENT
    for _ in range(2):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage != "active":
                raise RuntimeError(f"the experiment {name!r} is deleted; restore it or choose another with "
                                   "$MLFLOW_EXPERIMENT_NAME")
            return found.experiment_id
        try:
            return client.create_experiment(name)
        except MlflowException:  # another process created it meanwhile: read it again
            continue
    raise RuntimeError(f"the experiment {name!r} could not be created")


def _log_batch(client, run_id: str, parameters: dict[str, str], metrics: list[tuple[str, float, int, int]]) -> None:
    from mlflow.entities import Metric, Param

    params = [Param(name, value) for name, value in parameters.items()]
    for start in range(0, len(params), 100):
        client.log_batch(run_id, params=params[start:start + 100], synchronous=True)
    values = [Metric(name, float(value), timestamp, step) for name, value, timestamp, step in metrics]
    for start in range(0, len(values), BATCH):
        client.log_batch(run_id, metrics=values[start:start + BATCH], synchronous=True)


if __name__ == "__main__":
    _serve()
