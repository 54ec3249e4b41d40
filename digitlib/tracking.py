"""Finished runs logged to MLflow, where practitioners already look.

The run directory stays the source of truth; MLflow gets a copy of it, after the fact, from whichever
process has the finished directory: `digitlib report` logs its own run, a sweep logs each run it started (a
run from a Dask worker once it is received) as a child of a parent run named after the sweep. A run becomes
one MLflow run with the run's real start and end times: its parameters, per-epoch metrics (step = epoch),
final test metrics, tags (model, backend, device, git commit, the data's SHA-256s) and its files
(:data:`ARTIFACTS`); ``mlflow.json`` in the run directory records the MLflow run it became.

Tracking is on when a URI is given (``--mlflow URI``, else ``$MLFLOW_TRACKING_URI``) and MLflow is
installed (the ``mlflow`` extra); MLflow is imported only then. A tracking server that is down, hangs or
refuses costs seconds, not minutes (MLflow's HTTP retries and timeouts are bounded by :data:`HTTP_LIMITS`
unless the user set them), and one warning line: the first failure turns tracking off for the rest of the
command, and the run goes on.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime
from importlib.util import find_spec
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from .atomic import write_atomic
from .layout import MLFLOW_FILE as RECORD_FILE
from .params import ParameterError
from .rundir import METRICS_FILE, MODEL_FILE, NOTEBOOK_FILE, REPORT_FILE, RUN_FILE, read_metrics, read_record

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
STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "timed out": "FAILED", "interrupted": "KILLED",
            "running": "KILLED", "rendering": "KILLED"}
MAX_PARAM_CHARS, MAX_TAG_CHARS = 6000, 5000
BATCH = 1000  # MLflow's log_batch takes at most 1,000 metrics, 100 parameters and 100 tags per call


def tracker_for(uri: str | None, log: TextIO | None = None) -> Tracker | None:
    """The tracker of `--mlflow URI` (`uri`; None when the option was not given), else of $MLFLOW_TRACKING_URI;
    None when neither names one (an empty URI turns tracking off).

    Asked for by --mlflow without MLflow installed, it is a ParameterError (before anything runs); with only the
    variable set, MLflow not installed means no tracking, as for any program that does not use MLflow.
    """
    chosen = (uri if uri is not None else os.environ.get(TRACKING_URI, "")).strip()
    if not chosen:
        return None
    if find_spec("mlflow") is None:  # finds the package without importing it
        if uri is None:
            return None
        raise ParameterError("--mlflow needs MLflow: install digitlib with its mlflow extra "
                             "(pip install 'digitlib[mlflow]')")
    return Tracker(chosen, log=log)


def untracked(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` for a `digitlib report` that a sweep starts: without $MLFLOW_TRACKING_URI, since the sweep
    logs the run itself, as a child of its own."""
    return {name: value for name, value in environment.items() if name != TRACKING_URI}


def shown(uri: str) -> str:
    """`uri` without a password or token it may carry (user:secret@host), for messages and mlflow.json."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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
    """A run's parameters as MLflow keeps them: text; numbers and null as YAML and JSON write them."""
    return {name: _text(value, MAX_PARAM_CHARS) for name, value in record["parameters"].items()}


def run_tags(run_dir: Path, record: Mapping[str, Any], metrics: Mapping[str, Any] | None,
             parent: str | None = None) -> dict[str, str]:
    """Tags: what ran (model, backend, notebook, status), where (device, git commit), on what data (SHA-256s)."""
    from .provenance import device_label

    tags = {"mlflow.runName": record["run_id"], "mlflow.source.name": "digitlib report",
            "mlflow.source.type": "LOCAL", "digitlib.run_id": record["run_id"],
            "digitlib.run_dir": str(run_dir.resolve()), "digitlib.notebook": record["notebook_name"],
            "digitlib.status": record["status"]}
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
            "digitlib.versions": environment["versions"], "digitlib.data_source": metrics["data"]["source"],
            **{f"digitlib.data.sha256.{name}": sha256 for name, sha256 in metrics["data"]["sha256"].items()},
        })
    tags.update({name: _text(value, MAX_TAG_CHARS) for name, value in optional.items() if value is not None})
    return tags


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


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    """MLflow's requests bounded (:data:`HTTP_LIMITS`, where the user set none) and kept quiet: its and urllib3's
    log lines, Python warnings and what it prints (a "View run" link, on stdout, which --json keeps for its
    result) stay off the terminal; a failure is the one warning this module prints."""
    added = {name: value for name, value in HTTP_LIMITS.items() if name not in os.environ}
    loggers = [logging.getLogger(name) for name in ("mlflow", "urllib3", "alembic")]
    levels = [logger.level for logger in loggers]
    os.environ.update(added)
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _reason(error: BaseException) -> str:
    """Why a request failed, in a few words: MLflow's messages carry whole URLs and tracebacks of causes."""
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


class Tracker:
    """Logs finished run directories (and a sweep, as a parent run) to the MLflow tracking server or store at
    `uri`; prints one line per logged report or sweep to `log`, and at most one warning, to stderr."""

    def __init__(self, uri: str, log: TextIO | None = None):
        self.uri, self.log = uri, log
        self.parent: str | None = None  # the sweep's MLflow run, while a sweep is logged
        self.children = 0
        self.off = False  # after a failure: nothing more is tried
        self._client = None
        self._experiment: str | None = None

    def _connect(self):
        if self._client is None:
            _check_reachable(self.uri)  # a server that is down costs no import of MLflow (seconds)
            from mlflow import MlflowClient  # imported only here: tracking is on

            client = MlflowClient(tracking_uri=self.uri)
            self._experiment = _experiment_of(client)
            self._client = client
        return self._client

    def _fail(self, what: str, error: BaseException) -> None:
        self.off = True
        print(f"digitlib: warning: could not log {what} to MLflow at {shown(self.uri)} ({_reason(error)}); "
              "nothing more is logged to MLflow by this command, the run directory holds everything",
              file=sys.stderr, flush=True)

    def _where(self, mlflow_run: str) -> str:
        """Where an MLflow run is: its page in the server's UI, or its id and experiment in another store."""
        if urlsplit(self.uri).scheme in ("http", "https"):
            return f"{shown(self.uri).rstrip('/')}/#/experiments/{self._experiment}/runs/{mlflow_run}"
        return f"{mlflow_run} in experiment {self._experiment} of {shown(self.uri)}"

    def _say(self, line: str) -> None:
        print(line, file=self.log or sys.stdout, flush=True)

    def log_run(self, run_dir: str | os.PathLike, *, announce: bool = True) -> str | None:
        """Log the finished run directory `run_dir` as one MLflow run (a child of the sweep's, in a sweep); its
        MLflow run id, or None when logging failed (warned) or is off after a failure."""
        if self.off:
            return None
        run_dir = Path(run_dir)
        try:
            with _bounded():
                record, metrics = read_record(run_dir), read_metrics(run_dir)
                client = self._connect()
                run = client.create_run(self._experiment, start_time=_ms(record["started"]),
                                        tags=run_tags(run_dir, record, metrics, self.parent))
                mlflow_run = run.info.run_id
                _log_batch(client, mlflow_run, run_parameters(record), run_metrics(record, metrics))
                for name in ARTIFACTS:
                    if (run_dir / name).is_file():
                        client.log_artifact(mlflow_run, str(run_dir / name))
                client.set_terminated(mlflow_run, status=STATUSES[record["status"]],
                                      end_time=_ms(record.get("finished")))
        except Exception as error:  # noqa: BLE001 - any failure of tracking leaves the run as it is
            self._fail(f"run {run_dir.name}", error)
            return None
        self.children += self.parent is not None
        with contextlib.suppress(OSError):  # only a note: the run is in MLflow either way
            write_atomic(run_dir / RECORD_FILE, json.dumps(
                {"tracking_uri": shown(self.uri), "experiment_id": self._experiment, "run_id": mlflow_run,
                 "parent_run_id": self.parent}, indent=2) + "\n")
        if announce:
            self._say(f"MLflow: run {run_dir.name} logged as {self._where(mlflow_run)}")
        return mlflow_run

    def start_sweep(self, name: str, sweep_file: str | os.PathLike) -> str | None:
        """A parent run named after the sweep, holding its file; the runs logged until :meth:`finish_sweep`
        become its children."""
        if self.off:
            return None
        try:
            with _bounded():
                client = self._connect()
                run = client.create_run(self._experiment, tags={
                    "mlflow.runName": name, "mlflow.source.name": "digitlib sweep", "mlflow.source.type": "LOCAL",
                    "digitlib.sweep": name, "digitlib.sweep_file": str(Path(sweep_file).resolve())})
                self.parent = run.info.run_id
                client.log_artifact(self.parent, str(sweep_file))
        except Exception as error:  # noqa: BLE001
            self._fail(f"sweep {name}", error)
        return self.parent

    def finish_sweep(self, name: str, outcomes: list[dict[str, Any]], comparison: Path | None = None,
                     status: str = "FINISHED") -> None:
        """End the sweep's parent run with `status` (KILLED: interrupted, FAILED: stopped by an error): counts of
        its runs, the best test accuracy, the comparison report."""
        if self.off or self.parent is None:
            return
        counts = {"logged_runs": self.children}
        if status == "FINISHED":
            counts.update(runs=len(outcomes), skipped=sum(o["status"] == "skipped" for o in outcomes),
                          failed=sum(o["status"] == "failed" or o.get("earlier") == "failed" for o in outcomes))
        accuracies = [o["test_accuracy"] for o in outcomes if o.get("test_accuracy") is not None]
        if accuracies:
            counts["best_test_accuracy"] = max(accuracies)
        # reports/sweep-NAME/: comparison.html (a link to the comparison run's report) and sweep.json
        files = [Path(comparison), Path(comparison).parent / "sweep.json"] if comparison else []
        try:
            with _bounded():
                client = self._client
                now = int(time.time() * 1000)
                _log_batch(client, self.parent, {}, [(key, value, now, 0) for key, value in counts.items()])
                for path in files:
                    if path.is_file():
                        client.log_artifact(self.parent, str(path))
                client.set_terminated(self.parent, status=status)
        except Exception as error:  # noqa: BLE001
            self._fail(f"sweep {name}", error)
            return
        self._say(f"MLflow: sweep {name} and {self.children} run{'' if self.children == 1 else 's'} logged as "
                  f"{self._where(self.parent)}")


def _check_reachable(uri: str) -> None:
    """Raise OSError when nothing listens at an http(s) URI's host and port (within MLflow's request timeout)."""
    import socket

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or HTTP_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    socket.create_connection((parts.hostname, port), timeout=timeout).close()


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
