"""Batch runs: a YAML file of parameter sets, each executed by the same runner as `digitlib report`.

A sweep file holds a `grid` (every combination of the listed values) or a list of `runs`,
plus optional `common` values for all of them::

    name: ladder            # optional; default: the file's name
    common: {seed: 0}
    runs:
      - {model: seed}
      - {model: fast, epochs: 3}
      - {model: fast, epochs: 3, backend: jax}

Besides notebook parameters, a run (or `common`, or the grid) may name its Keras ``backend``
(tensorflow or jax; default: as for `digitlib report`); it is part of the run's identity.

Every set is validated before anything runs; errors name the file, line and key. A run whose
parameters match an earlier finished run (succeeded or failed) in the same reports folder is not
run again; an interrupted or timed-out one is resumed from its last finished epoch. Ctrl-C, SIGTERM or
SIGHUP stops a sweep: its running runs are interrupted and no more are started; a sweep killed outright
leaves its runs to interrupt themselves (:func:`stop_with_parent`). A sweep of more than 100 runs needs
``--yes``; one of more than 10,000 is refused, its grid counted before it is expanded.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import reprlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TextIO

import yaml

from ..backends import BACKENDS, choose_backend
from ..layout import COMPARISON_LINK, REPORT_FILE, REPORTS_DIR, RUN_FILE, SWEEP_FILE, SWEEP_PREFIX
from ..models import model_spec
from ..params import COMPARISON, ParameterError, model_label, validate_parameters
from ..rundir import Run, identity_of, kind_of, read_runs, run_identity
from ..untrusted import printable
from ..yamlfile import YamlInputError, load_yaml_file
from .tracking import untracked

TOP_LEVEL = ("name", "common", "grid", "runs")
BACKEND_KEY = "backend"  # not a notebook parameter: which Keras backend `digitlib report --backend` trains with
PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")  # one folder name, inside the reports folder


@dataclass(frozen=True)
class Sweep:
    name: str
    parameter_sets: list[dict[str, Any]]  # validated, recipe resolved
    backends: tuple[str | None, ...] = ()  # each set's `backend` key; None (or none given): the configured one

    @property
    def names_backends(self) -> bool:
        """Whether the sweep file names a backend anywhere (then each run's line says which)."""
        return any(backend is not None for backend in self.backends)

    def runs(self) -> list[tuple[dict[str, Any], str | None]]:
        """Each parameter set with the backend the sweep file asks for (None: not named)."""
        return list(zip(self.parameter_sets, self.backends or [None] * len(self.parameter_sets)))


def _line_of(node: yaml.Node, *path: Any) -> int:
    """1-based line of the value at `path` (mapping keys or sequence indices) in a composed YAML tree."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == step), None)
            if found is None:
                break
            node = found[0] if step == path[-1] else found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            break
    return node.start_mark.line + 1


def _origin(name: str, values: dict[str, Any], where: tuple) -> tuple:
    """Where key `name` of a parameter set comes from: `common`, the grid, or the run at `where`."""
    return ("common", name) if name not in values else ("grid", name) if where == ("grid",) else (*where, name)


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file; raises ParameterError naming the file, line and key."""
    path = Path(path)
    try:
        document = load_yaml_file(path, "sweep file")
    except YamlInputError as error:
        raise ParameterError(str(error)) from None
    tree, data = document.tree, document.data
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a sweep file is a mapping with 'grid' or 'runs'")
    for key in data:
        if key not in TOP_LEVEL:
            raise ParameterError(f"{path}:{_line_of(tree, key)}: unknown key {key!r}; use {', '.join(TOP_LEVEL)}")
    if ("grid" in data) == ("runs" in data):
        raise ParameterError(f"{path}: give either 'grid' or 'runs'")
    common = data.get("common") or {}
    if not isinstance(common, dict):
        raise ParameterError(f"{path}:{_line_of(tree, 'common')}: 'common' must map parameter names to values")
    if "grid" in data:
        grid = data["grid"]
        if not isinstance(grid, dict) or not grid or any(not isinstance(v, list) or not v for v in grid.values()):
            raise ParameterError(f"{path}:{_line_of(tree, 'grid')}: the grid is empty; give each parameter a "
                                 "non-empty list of values")
        count = math.prod(map(len, grid.values()))  # counted, not built: 12 keys of 10 values are 10**12 runs
        if count > MAX_RUNS:
            shown = f"{count:,}" if count < 10**15 else f"about 10^{math.floor(math.log10(count))}"
            raise ParameterError(f"{path}:{_line_of(tree, 'grid')}: the grid makes {shown} runs, more than the "
                                 f"{MAX_RUNS:,} a sweep may have, even with --yes; split it into smaller sweeps")
        names = list(grid)
        sets = ((("grid",), dict(zip(names, values))) for values in itertools.product(*grid.values()))
    else:
        runs = data["runs"]
        if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
            raise ParameterError(f"{path}:{_line_of(tree, 'runs')}: 'runs' must be a non-empty list of mappings")
        if len(runs) > MAX_RUNS:
            raise ParameterError(f"{path}:{_line_of(tree, 'runs')}: {len(runs):,} runs are more than the "
                                 f"{MAX_RUNS:,} a sweep may have, even with --yes; split them into smaller sweeps")
        sets = ((("runs", index), run) for index, run in enumerate(runs))
    validated, backends = [], []
    for where, values in sets:
        merged = {**common, **values}
        backend = merged.pop(BACKEND_KEY, None)
        if BACKEND_KEY in {**common, **values} and backend not in BACKENDS:
            raise ParameterError(f"{path}:{_line_of(tree, *_origin(BACKEND_KEY, values, where))}: unknown Keras "
                                 f"backend {reprlib.repr(backend)}; choose one of: {', '.join(BACKENDS)}")
        for name in sorted(merged, key=lambda key: key != "model"):  # one key at a time, to point at its line
            context = {"model": merged["model"]} if name != "model" and "model" in merged else {}
            try:
                validate_parameters({**context, name: merged[name]})
            except ParameterError as error:
                raise ParameterError(f"{path}:{_line_of(tree, *_origin(name, values, where))}: {error}") from None
        validated.append(validate_parameters(merged))
        backends.append(backend)
    return Sweep(name=_sweep_name(data, path, tree), parameter_sets=validated, backends=tuple(backends))


def _sweep_name(data: dict[str, Any], path: Path, tree: yaml.Node) -> str:
    """The file's `name`, a plain name since it names reports/sweep-NAME/; else the file's name, made plain."""
    if "name" not in data:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip(".-")[:100] or "sweep"
    name = data["name"]
    if isinstance(name, (int, float)):  # `010`, `0x1F`, `1e3`, `yes`: the name as written, not YAML 1.1's value
        node = next((value for key, value in tree.value if key.value == "name"), None)
        name = node.value if isinstance(node, yaml.ScalarNode) else name
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise ParameterError(f"{path}:{_line_of(tree, 'name')}: the sweep name {reprlib.repr(name)} is not a plain "
                             "name: use up to 100 letters, digits, '-', '_' or '.', not starting with '.' "
                             "(it names the folder reports/sweep-NAME)")
    return name


MAX_RUNS_UNASKED = 100  # a bigger sweep is more likely a typo in a grid than a plan: it needs --yes
MAX_RUNS = 10_000  # at half a minute a run at least, 83 hours: a bigger sweep is refused, --yes or not
MINUTES_PER_RUN = 0.5  # starting the kernel, loading the data, rendering the report


def estimated_minutes(parameters: dict[str, Any]) -> float:
    """A rough duration of one run on 2 CPU cores (its model's minutes per epoch); an ensemble counts as all its
    members trained."""
    share = min(parameters["train_limit"] or 60_000, 60_000) / 60_000
    per_epoch = model_spec(parameters["model"]).minutes_per_epoch * (parameters["members"] or 1)
    return MINUTES_PER_RUN + parameters["epochs"] * per_epoch * share


def check_sweep_size(sweep: Sweep, allow_large: bool) -> None:
    """Refuse a sweep of more than MAX_RUNS_UNASKED runs unless `allow_large` (the --yes flag)."""
    count = len(sweep.parameter_sets)
    if count > MAX_RUNS_UNASKED and not allow_large:
        hours = sum(map(estimated_minutes, sweep.parameter_sets)) / 60
        raise ParameterError(f"the sweep {sweep.name} has {count} runs, roughly {hours:.1f} hours of training on "
                             f"2 CPU cores; if that is what you want, add --yes (more than {MAX_RUNS_UNASKED} runs "
                             "are never started without it)")


FINISHED = ("succeeded", "failed")  # the same parameters would end the same way: not run again
RESUMABLE = ("interrupted", "timed out")  # continued from their last finished epoch


def earlier_runs(reports_dir: Path) -> dict[str, Run]:
    """The newest training run of each identity (:func:`digitlib.rundir.run_identity`) in `reports_dir`.

    Parameters added since a run was made count as their defaults, so adding a knob does not
    make every earlier run look different.
    """
    earlier: dict[str, Run] = {}
    for run in read_runs(reports_dir):  # newest first
        if run.contract.trains:
            earlier.setdefault(identity_of(run), run)
    return earlier


@dataclass(frozen=True)
class Outcome:
    """How one run of a sweep ended, finished now or earlier; sweep.json and `digitlib sweep --json` hold
    :meth:`as_dict`. A field left at None is one that does not apply to this run."""
    parameters: dict[str, Any]
    backend: str
    status: str  # succeeded, failed, skipped (finished earlier: `earlier` says how), not started
    run_id: str | None = None  # None: no run folder was made
    test_accuracy: float | None = None  # succeeded runs
    error: str | None = None  # failed runs: why, in one line
    earlier: str | None = None  # skipped runs: how the earlier run ended (succeeded or failed)
    worker: str | None = None  # runs on a Dask worker: its address (or '?' where it did not say)
    shared: bool | None = None  # runs a worker made: whether it wrote into the reports folder (else sent it back)

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded, now or earlier."""
        return self.status == "succeeded" or self.earlier == "succeeded"

    @property
    def failed(self) -> bool:
        """Whether the run failed, now or earlier."""
        return self.status == "failed" or self.earlier == "failed"

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON holds it: the fields that apply (not None), in this order."""
        return {field.name: value for field in fields(self) if (value := getattr(self, field.name)) is not None}


@dataclass(frozen=True)
class PlannedRun:
    """One parameter set of a sweep that is to run: with its backend, and the earlier run it resumes (if any)."""
    parameters: dict[str, Any]
    backend: str  # resolved: the sweep's `backend` key, else the configured one
    resume: str | None = None  # the run id of an interrupted or timed-out run with the same identity


def plan_sweep(sweep: Sweep, reports_dir: Path) -> tuple[list[Outcome], list[PlannedRun]]:
    """The outcomes of the runs finished earlier in `reports_dir` (skipped), and the runs to start.

    Raises ParameterError, before anything is created, when no backend can be chosen, two of its runs are the
    same run, or the sweep's folder (:func:`sweep_folder`) is a link or no folder.
    """
    sweep_folder(sweep, reports_dir)
    chosen = [(parameters, choose_backend(backend)) for parameters, backend in sweep.runs()]
    first: dict[str, int] = {}
    for number, (parameters, backend) in enumerate(chosen, 1):  # one run twice would train twice, or resume twice
        identity = run_identity(parameters, backend=backend)
        if identity in first:
            raise ParameterError(f"sweep {sweep.name}: runs {first[identity]} and {number} are the same run (the same "
                                 f"parameters on {backend}); list each run once")
        first[identity] = number
    earlier = earlier_runs(reports_dir)
    skipped, pending = [], []
    for parameters, backend in chosen:
        run = earlier.get(run_identity(parameters, backend=backend))
        if run and run.status in FINISHED:
            skipped.append(Outcome(parameters, backend, "skipped", run_id=run.run_id, earlier=run.status))
        else:
            resume = run.run_id if run and run.status in RESUMABLE else None
            pending.append(PlannedRun(parameters, backend, resume))
    return skipped, pending


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a sweep: its running runs were interrupted, its queued ones never started."""

    def __init__(self, interrupted: int, not_started: int, running_on_workers: int = 0):
        elsewhere = (f", {running_on_workers} still running on their Dask workers, not collected: let them end "
                     "before you run it again, or they run twice") if running_on_workers else ""
        super().__init__(f"{interrupted} run{'' if interrupted == 1 else 's'} interrupted, {not_started} not started"
                         f"{elsewhere}")
        self.interrupted, self.not_started = interrupted, not_started
        self.running_on_workers = running_on_workers


class _ReportProcesses:
    """The `digitlib report` processes of a sweep, so that stopping the sweep stops them too."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.started, self.stopping = 0, False

    def run(self, command: list[str], stdin: str) -> subprocess.CompletedProcess | None:
        """Run `command` to its end, `stdin` its input; None, starting nothing, once the sweep is stopping."""
        def started(process: subprocess.Popen) -> bool:
            with self._lock:
                if self.stopping:
                    return False
                self._running.add(process)
                self.started += 1
                return True

        # A session of its own: a terminal's Ctrl-C reaches the sweep alone, which passes it on once.
        # Not logged to MLflow by itself: the sweep logs it, as a child of its own run.
        try:
            return run_report_process(command, stdin, report_environment(untracked(os.environ)), new_session=True,
                                      started=started)
        finally:
            with self._lock:
                self._running = {process for process in self._running if process.poll() is None}

    def stop(self) -> int:
        """Start nothing more and send SIGTERM to the running processes, which mark their runs interrupted.

        Returns how many were running.
        """
        with self._lock:
            self.stopping = True
            for process in self._running:
                process.send_signal(signal.SIGTERM)
            return len(self._running)


STOP_WITH = "DIGITLIB_STOP_WITH"  # set on a sweep's `digitlib report`: the pid of the sweep, whose death interrupts it


def run_report_process(command: list[str], stdin: str, environment: Mapping[str, str], *, cwd: Path | None = None,
                       new_session: bool = False, started=None) -> subprocess.CompletedProcess | None:
    """Run a sweep's `digitlib report` to its end, `stdin` its input. Its output goes to unnamed temporary files,
    not pipes: if this process dies, the run never writes into a closed pipe (which would fail it); it interrupts
    itself instead (:func:`stop_with_parent`). `started(process)` may refuse the process once it runs (it is then
    stopped, and None returned)."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, text=True,
                                   cwd=cwd, env=environment, start_new_session=new_session)
        if started is not None and not started(process):
            process.kill()
            process.wait()
            return None
        process.communicate(stdin)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())


def report_command(run: PlannedRun, reports_dir: Path) -> list[str]:
    """The `digitlib report --json` command of a planned run: fresh, its parameters read from stdin
    (:func:`parameters_text`: no temporary file to leak if the sweep is killed), or --resume."""
    arguments = ["--resume", run.resume] if run.resume else ["--params-file", "/dev/stdin", "--backend", run.backend]
    return [sys.executable, "-m", "digitlib", "report", "--json", *arguments, "--reports-dir", str(reports_dir)]


def parameters_text(parameters: dict[str, Any]) -> str:
    """`parameters` as the YAML that :func:`report_command` reads from its stdin."""
    return yaml.safe_dump(parameters)


def report_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` for a run this process starts, which stops (:func:`stop_with_parent`) if this process dies."""
    return {**environment, STOP_WITH: str(os.getpid())}


def stop_with_parent() -> None:
    """In a `digitlib report` that a sweep started: once the sweep is gone (killed with SIGKILL, say, or its
    worker), interrupt this run with SIGTERM, so that it is marked interrupted and the next sweep resumes it,
    instead of running on orphaned and failing when it writes to its dead parent's pipe."""
    parent = os.environ.pop(STOP_WITH, "")  # not passed on: the run's kernel, or a report it starts, is no sweep's
    if not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="digitlib-stop-with-sweep", daemon=True).start()


def report_outcome(result: subprocess.CompletedProcess) -> dict[str, Any]:
    """What a finished `digitlib report --json` process printed: status and run id, and the error of a
    failed run (:class:`Outcome`'s fields, as a worker sends them)."""
    try:  # one JSON object on its last line; a usage error (exit 2) creates no run and prints none
        printed = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"status": "failed", "error": (result.stderr.strip().splitlines() or ["no message"])[-1]}
    if result.returncode == 0 and printed["status"] == "succeeded":
        return {"status": "succeeded", "run_id": printed["run_id"], "test_accuracy": printed["test_accuracy"]}
    return {"status": "failed", "run_id": printed["run_id"],
            "error": f"digitlib: run {printed['run_id']} {printed['status']}: {printed['error']}"}


def _run_one(run: PlannedRun, reports_dir: Path, processes: _ReportProcesses) -> dict[str, Any]:
    """One `digitlib report --json` process (or --resume of an interrupted one); returns what it printed."""
    result = processes.run(report_command(run, reports_dir), parameters_text(run.parameters))
    if result is None:
        return {"status": "not started", "error": "the sweep was stopped"}
    return report_outcome(result)


def describe(parameters: dict[str, Any], backend: str | None = None) -> str:
    """A run as its line names it; with `backend` when the sweep file named one."""
    on = f", {backend}" if backend else ""
    return f"{model_label(parameters)} (epochs {parameters['epochs']}, seed {parameters['seed']}{on})"


def describe_outcome(outcome: Outcome, with_backend: bool = False) -> str:
    """The line a sweep prints for one run, finished now or earlier (naming its backend if asked)."""
    run = describe(outcome.parameters, outcome.backend if with_backend else None)
    if outcome.status == "skipped":
        return f"{run}: already {outcome.earlier} ({outcome.run_id}), not run again"
    if outcome.status == "succeeded":
        return f"{run}: succeeded, test accuracy {outcome.test_accuracy:.2%} ({outcome.run_id})"
    return f"{run}: {outcome.status} ({printable(outcome.error)})"  # a worker's text: no escape codes


def track_outcome(tracker, outcome: Outcome, reports_dir: Path) -> None:
    """Log the run of a finished outcome to MLflow, as a child of the sweep's run (with a tracker, and a run)."""
    if tracker is not None and outcome.run_id and (reports_dir / outcome.run_id / RUN_FILE).is_file():
        tracker.log_run(reports_dir / outcome.run_id, announce=False)


def started_outcome(run: PlannedRun, result: Mapping[str, Any]) -> Outcome:
    """The outcome of a run started by this sweep, from what its report printed (:func:`report_outcome`)."""
    return Outcome(run.parameters, run.backend, **result)


class Transport(Protocol):
    """Where :func:`drive_sweep` sends a sweep's runs: processes on this machine, or a Dask cluster's workers."""

    def submit(self, run: PlannedRun) -> Any:
        """Queue `run`; its future."""

    def finished(self, futures: Collection[Any]) -> Iterator[Any]:
        """The futures, each once it has finished."""

    def outcome(self, future: Any, run: PlannedRun) -> Outcome:
        """The outcome of `run`, whose future has finished."""

    def stop(self, futures: Collection[Any]) -> tuple[int, int, int]:
        """On Ctrl-C: stop the runs of `futures`; how many running runs were interrupted, how many never started,
        and how many go on running where they run (a Dask worker's task cannot be stopped from here)."""


def drive_sweep(sweep: Sweep, skipped: list[Outcome], pending: list[PlannedRun], transport: Transport,
                reports_dir: Path, log: TextIO, tracker=None) -> list[Outcome]:
    """Print the `skipped` runs, send the `pending` ones to `transport` and collect each as it finishes: its
    line to `log`, the progress bar to stderr, its run to MLflow (with a tracker). Returns every outcome, the
    skipped first.

    Ctrl-C or SIGTERM (the command line turns it into Ctrl-C) stops the runs (:meth:`Transport.stop`) and raises
    :class:`SweepInterrupted`.
    """
    from tqdm import tqdm

    outcomes = list(skipped)
    with tqdm(total=len(sweep.parameter_sets), initial=len(outcomes), unit="run", desc=sweep.name,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for outcome in outcomes:
            tqdm.write(describe_outcome(outcome, sweep.names_backends), file=log)
        futures: dict[Any, PlannedRun] = {}
        try:
            for run in pending:
                futures[transport.submit(run)] = run
            for future in transport.finished(futures):
                outcome = transport.outcome(future, futures[future])
                outcomes.append(outcome)
                tqdm.write(describe_outcome(outcome, sweep.names_backends), file=log)
                track_outcome(tracker, outcome, reports_dir)
                bar.update(1)
        except KeyboardInterrupt:
            interrupted, not_started, running = transport.stop(futures)
            raise SweepInterrupted(interrupted, not_started + len(pending) - len(futures), running) from None
    return outcomes


class _LocalTransport:
    """A sweep's runs as `digitlib report` processes on this machine, `pool`'s threads at a time."""

    def __init__(self, pool: ThreadPoolExecutor, reports_dir: Path):
        self.pool, self.reports_dir, self.processes = pool, reports_dir, _ReportProcesses()

    def submit(self, run: PlannedRun) -> Future:
        return self.pool.submit(_run_one, run, self.reports_dir, self.processes)

    def finished(self, futures: Iterable[Future]) -> Iterator[Future]:
        return as_completed(futures)

    def outcome(self, future: Future, run: PlannedRun) -> Outcome:
        return started_outcome(run, future.result())

    def stop(self, futures: Collection[Future]) -> tuple[int, int, int]:
        """Start no more and interrupt the running processes, which mark their runs interrupted (resumable): how many
        were interrupted, how many never started, and 0 left running."""
        interrupted = self.processes.stop()
        self.pool.shutdown(cancel_futures=True)  # waits for the interrupted runs to record themselves
        return interrupted, len(futures) - self.processes.started, 0


def run_sweep(sweep: Sweep, reports_dir: str | os.PathLike = REPORTS_DIR, jobs: int = 1,
              log: TextIO | None = None, tracker=None) -> list[Outcome]:
    """Run every parameter set not already done, `jobs` at a time; failures are reported, not fatal.
    One line per run goes to `log` (default stdout), the progress bar to stderr. With a
    :class:`~digitlib.run.tracking.Tracker`, each run executed is logged to MLflow as it finishes.

    Ctrl-C or SIGTERM interrupts the running runs, starts no more and raises :class:`SweepInterrupted`;
    running the sweep again resumes the interrupted runs.
    """
    reports_dir = Path(reports_dir)
    skipped, pending = plan_sweep(sweep, reports_dir)  # checks every backend before anything is created
    reports_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return drive_sweep(sweep, skipped, pending, _LocalTransport(pool, reports_dir), reports_dir,
                           log or sys.stdout, tracker)


class ComparisonFailed(RuntimeError):
    """A sweep's comparison was not rendered or not recorded in its folder; the message says why, in one line."""


def sweep_folder(sweep: Sweep, reports_dir: str | os.PathLike, error: type[Exception] = ParameterError) -> Path:
    """reports/sweep-NAME, where a sweep keeps sweep.json and its comparison's link; `error` if it is a link (the
    sweep would write wherever it points) or something other than a folder, or the reports folder is no folder."""
    if os.path.lexists(reports_dir) and not Path(reports_dir).is_dir():
        raise error(f"the reports folder {printable(reports_dir)} is {kind_of(Path(reports_dir))}, not a folder; "
                    "choose another with --reports-dir")
    folder = Path(reports_dir) / f"{SWEEP_PREFIX}{sweep.name}"
    if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
        found = "a link" if folder.is_symlink() else kind_of(folder)
        raise error(f"{printable(folder)} is {found}, not a folder; move it away: sweep {sweep.name} keeps its "
                    f"{SWEEP_FILE} and comparison there")
    return folder


def render_comparison(sweep: Sweep, outcomes: list[Outcome], reports_dir: str | os.PathLike = REPORTS_DIR):
    """Render compare_runs.ipynb over the sweep's successful runs; link it as reports/sweep-NAME/comparison.html.

    Returns the link, or None when no run succeeded. Raises :class:`ComparisonFailed` when the comparison fails or
    the sweep's folder is a link or no folder.
    """
    from ..atomic import replace_symlink, write_json
    from .runner import run_report

    reports_dir = Path(reports_dir)
    good = [o for o in outcomes if o.succeeded]
    if not good:
        return None
    folder = sweep_folder(sweep, reports_dir, ComparisonFailed)  # checked before the sweep ran, and again now
    data_dirs = [o.parameters["data_dir"] for o in good if o.parameters.get("data_dir")]
    result = run_report({"runs": [str((reports_dir / o.run_id).resolve()) for o in good],
                         "title": f"sweep {sweep.name}", "data_dir": data_dirs[0] if data_dirs else None},
                        notebook=COMPARISON.name, reports_dir=reports_dir, stream=open(os.devnull, "w"))
    if result.status != "succeeded":
        raise ComparisonFailed(f"the comparison of sweep {sweep.name} failed: {printable(str(result.error))} "
                               f"(see {printable(result.report)})")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:  # made a file or link meanwhile, or not writable
        raise ComparisonFailed(f"cannot make {printable(folder)}: {error.strerror}") from None
    write_json(folder / SWEEP_FILE, {"name": sweep.name, "runs": [o.as_dict() for o in outcomes],
                                     "comparison_run": result.run_dir.name})
    try:
        return replace_symlink(folder / COMPARISON_LINK, f"../{result.run_dir.name}/{REPORT_FILE}")
    except FileExistsError:  # something of the user's is there: left alone, and the page named where it is
        warnings.warn(f"{printable(folder / COMPARISON_LINK)} is not a link, so it was left alone; move it away "
                      "to have it point at the sweep's comparison", stacklevel=2)
        return result.report
