"""Sweeps on a Dask cluster: each run of a sweep is one task, run on a worker by the same runner as
`digitlib report`, and its finished run directory comes back into the local reports folder.

A worker runs ``digitlib report --json`` in a process of its own (its own kernel, and the worker's
environment: its own $DIGITLIB_DATA_DIR, never the client's). Parameters travel as data. Whether a worker
sees the client's reports folder is found out, not assumed: the client leaves a file named after a random
token in it; a worker that finds that file at the same path runs straight into the folder (nothing is
copied), any other runs in a scratch folder of its own and returns the finished run directory as a tar
archive, which the client checks like any untrusted run directory and renames into place.

A worker that dies takes its task with it, and the scheduler gives the task to another worker (up to
Dask's ``distributed.scheduler.allowed-failures`` deaths, 3 by default). A run that fails on its own
(bad parameters, a diverging loss) returns a failed outcome instead of raising, so it is reported once
and never retried.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from .atomic import write_atomic
from .layout import MODEL_FILE, REPORTS_DIR
from .params import ParameterError
from .rundir import InvalidRun, identity_of, read_run, run_directory, run_identity
from .sweep import (
    PlannedRun,
    Sweep,
    SweepInterrupted,
    describe_outcome,
    plan_sweep,
    report_command,
    report_outcome,
    started_outcome,
    track_outcome,
    written_parameters,
)
from .tracking import untracked

COPY_BACK = "DIGITLIB_COPY_BACK"  # set to 1 on a worker: always send runs back, even into a folder it can see
MAX_RUN_BYTES = 2 * 1024**3  # a run directory is a few MB (an ensemble's models some tens): more is not a run
MAX_RUN_FILES = 1000


# On the worker ------------------------------------------------------------------------------------

def _visible_reports_dir(task: dict[str, Any]) -> Path | None:
    """The client's reports folder, if this worker sees it (the client's token file is there); else None."""
    if os.environ.get(COPY_BACK) == "1":
        return None
    folder = Path(task["reports_dir"])
    try:
        return folder if (folder / f".cluster-{task['token']}").read_text(encoding="ascii") == task["token"] else None
    except (OSError, UnicodeDecodeError):
        return None


def _report_environment() -> dict[str, str]:
    """The worker's environment less the thread limits a Dask nanny sets for its worker's own threads
    (OMP_NUM_THREADS=1 and the like, Dask's ``distributed.nanny.pre-spawn-environ``): a run is a process of
    its own and uses the machine's cores as it does locally (TensorFlow's oneDNN reads OMP_NUM_THREADS)."""
    import dask
    import distributed  # noqa: F401 - loads its settings into dask.config (a worker has imported it already)

    limits = {name: str(value) for name, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()}
    return {name: value for name, value in untracked(os.environ).items()  # the client logs it to MLflow
            if not (name.endswith("_NUM_THREADS") and limits.get(name) == value)}


def pack_run(run_dir: Path) -> bytes:
    """A finished run directory as a gzipped tar archive (links are kept as links, and refused on arrival)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        archive.add(run_dir, arcname=run_dir.name)
    return buffer.getvalue()


def run_on_worker(task: dict[str, Any]) -> dict[str, Any]:
    """The task: one `digitlib report --json` process on this worker; returns its outcome (never raises
    for a failed run), with the run directory packed (``archive``) unless it was written to a shared folder."""
    shared = _visible_reports_dir(task)
    run = PlannedRun(task["parameters"], task["backend"], task["resume"] if shared else None)
    scratch = None if shared else Path(tempfile.mkdtemp(prefix="digitlib-run-"))
    params_file = written_parameters(run.parameters)
    try:
        # In the worker's process group: a worker killed with its group takes its run with it.
        result = subprocess.run(report_command(run, shared or scratch, params_file), capture_output=True,
                                text=True, cwd=scratch, env=_report_environment())
        outcome = {**report_outcome(result), "worker": _worker_address(), "shared": shared is not None}
        if scratch and "run_id" in outcome and (scratch / outcome["run_id"]).is_dir():
            outcome["archive"] = pack_run(scratch / outcome["run_id"])
        return outcome
    finally:
        os.unlink(params_file)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # called outside a worker (the tests call it directly)
        return "local"


# On the client ------------------------------------------------------------------------------------

def _check_members(members: list[tarfile.TarInfo], run_id: str) -> None:
    """Every member a plain file or folder inside the run's folder, and the whole of a sane size."""
    if len(members) > MAX_RUN_FILES:
        raise InvalidRun(f"the archive holds {len(members)} files, more than a run's {MAX_RUN_FILES}")
    total = 0
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not name.parts or name.parts[0] != run_id:
            raise InvalidRun(f"the archive's member {member.name[:200]!r} lies outside the run folder {run_id}")
        if not (member.isfile() or member.isdir()):
            raise InvalidRun(f"the archive's member {member.name[:200]!r} is not a plain file or folder")
        total += member.size
        if total > MAX_RUN_BYTES:
            raise InvalidRun(f"the archive unpacks to more than {MAX_RUN_BYTES:,} bytes")


def receive_run(reports_dir: Path, run_id: Any, archive: bytes, identity: str) -> tuple[Path, dict[str, Any]]:
    """Unpack a run directory sent by a worker into `reports_dir`, atomically, if it validates as a run
    directory read back (:func:`digitlib.rundir.read_run`) and is the run asked for (its `identity`).

    It is unpacked into a hidden folder inside `reports_dir`, checked, then renamed into place; its
    directory and record are returned. Raises :class:`~digitlib.rundir.InvalidRun` saying why not.
    """
    from .runner import create_run_directory

    try:
        run_directory(reports_dir, run_id)  # a plain name
    except ParameterError as error:
        raise InvalidRun(str(error)) from None
    incoming = Path(tempfile.mkdtemp(dir=reports_dir, prefix=".incoming-"))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as unpacked:
                members = unpacked.getmembers()
                _check_members(members, run_id)
                unpacked.extractall(incoming, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise InvalidRun(f"the archive does not unpack ({type(error).__name__}: {error})") from None
        run = read_run(incoming / run_id)
        if identity_of(run) != identity:
            raise InvalidRun("it is not the run that was asked for (is digitlib the same version on the workers?)")
        target = create_run_directory(reports_dir, run_id)  # an empty, fresh name: the rename replaces it
        os.replace(incoming / run_id, target)
        return target, {**run, "run_id": target.name}
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def connect(scheduler: str, timeout: str | float | None = None):
    """A `distributed.Client` of the scheduler at `scheduler`; a ParameterError, creating nothing, when it
    cannot be reached within `timeout` (default: Dask's ``distributed.comm.timeouts.connect``)."""
    import asyncio

    try:
        import dask
        from distributed import Client
        from distributed.comm import connect as probe
    except ImportError:
        raise ParameterError("--scheduler needs Dask: install digitlib with its dask extra "
                             "(pip install 'digitlib[dask]')") from None
    timeout = timeout or dask.config.get("distributed.comm.timeouts.connect")

    async def reachable() -> None:
        comm = await probe(scheduler, timeout=timeout)
        await comm.close()

    try:  # a bare connection first: a failed Client makes noise at exit, and retries for longer
        asyncio.run(reachable())
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0][:300]
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r} ({reason}); start one with "
                             "`dask scheduler` and give its address, such as tcp://HOST:8786") from None


@contextmanager
def _token_file(reports_dir: Path) -> Iterator[str]:
    """A random token, left in `reports_dir` while the sweep runs, by which a worker knows it sees the folder."""
    token = secrets.token_hex(16)
    path = write_atomic(reports_dir / f".cluster-{token}", token)
    try:
        yield token
    finally:
        path.unlink(missing_ok=True)


def _collected(future, run: PlannedRun, reports_dir: Path) -> dict[str, Any]:
    """A finished task's outcome; a run sent back is received and indexed here, once."""
    from distributed import KilledWorker

    from .runner import update_index

    try:
        outcome = future.result()
    except KilledWorker as error:
        return {"status": "failed", "error": f"digitlib: {error.allowed_failures + 1} workers died while running it "
                                             f"(the last {error.last_worker.address}); not tried again"}
    except Exception as error:  # noqa: BLE001 - the task could not run there (digitlib missing on the worker?)
        return {"status": "failed", "error": f"digitlib: the run could not run on a worker: "
                                             f"{type(error).__name__}: {str(error)[:300]}"}
    archive = outcome.pop("archive", None)
    if archive is None:  # written into the shared folder (and indexed) by the runner, or no run was made
        return outcome
    try:
        run_dir, record = receive_run(reports_dir, outcome.get("run_id"), archive,
                                      run_identity(run.parameters, backend=run.backend))
    except InvalidRun as problem:
        return {"status": "failed", "worker": outcome["worker"],
                "error": f"digitlib: the run sent back by worker {outcome['worker']} was refused: {problem}"}
    succeeded = record["status"] == "succeeded" and record["metrics"] is not None
    update_index(reports_dir, run_dir if succeeded and (run_dir / MODEL_FILE).is_file() else None)
    outcome["run_id"] = run_dir.name
    if succeeded:
        outcome.update(status="succeeded", test_accuracy=record["metrics"]["test"]["accuracy"])
    elif outcome["status"] == "succeeded":  # the worker said so, the run's own record does not
        outcome.update(status="failed", error=f"digitlib: run {run_dir.name} {record['status']}: {record.get('error')}")
    return outcome


def run_sweep_on_cluster(sweep: Sweep, scheduler: str, reports_dir: str | os.PathLike = REPORTS_DIR,
                         log: TextIO | None = None, tracker=None) -> list[dict[str, Any]]:
    """Run every parameter set not already done as a task on the Dask cluster at `scheduler`; as
    :func:`digitlib.sweep.run_sweep` otherwise (skipping, one line per run, progress bar, outcomes, MLflow:
    a run is logged here, by the client, once its directory is received or written to the shared folder)."""
    from distributed import as_completed
    from tqdm import tqdm

    log = log or sys.stdout
    reports_dir = Path(reports_dir)
    outcomes, pending = plan_sweep(sweep, reports_dir)
    with connect(scheduler) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        waiting = "" if workers else " (runs wait until one joins)"
        print(f"Dask scheduler {scheduler}: {workers} worker{'' if workers == 1 else 's'}{waiting}; "
              f"dashboard: {client.dashboard_link}", file=log)
        reports_dir.mkdir(parents=True, exist_ok=True)
        with _token_file(reports_dir) as token, tqdm(total=len(sweep.parameter_sets), initial=len(outcomes),
                                                     unit="run", desc=sweep.name, file=sys.stderr,
                                                     dynamic_ncols=True) as bar:
            for outcome in outcomes:
                tqdm.write(describe_outcome(outcome, sweep.names_backends), file=log)
            tasks = {}
            for run in pending:
                task = {"parameters": run.parameters, "backend": run.backend, "resume": run.resume,
                        "reports_dir": str(reports_dir.resolve()), "token": token}
                key = f"digitlib-run-{uuid.uuid4().hex}"  # a fresh key: the same parameters may run again later
                tasks[client.submit(run_on_worker, task, key=key, pure=False)] = run
            try:
                for future in as_completed(tasks, loop=client.loop):
                    outcome = started_outcome(tasks[future], _collected(future, tasks[future], reports_dir))
                    outcomes.append(outcome)
                    tqdm.write(describe_outcome(outcome, sweep.names_backends), file=log)
                    track_outcome(tracker, outcome, reports_dir)
                    bar.update(1)
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the command line turns it into one)
                unfinished = [future for future in tasks if not future.done()]
                client.cancel(unfinished)  # a run already executing finishes on its worker, uncollected
                raise SweepInterrupted(interrupted=0, not_started=len(unfinished)) from None
    return outcomes
