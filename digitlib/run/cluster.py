"""Sweeps on a Dask cluster: each run of a sweep is one task, run on a worker by the same runner as
`digitlib report`, and its finished run directory comes back into the local reports folder.

A worker runs ``digitlib report --json`` in a process of its own (its own kernel, and the worker's
environment: its own $DIGITLIB_DATA_DIR, never the client's). Parameters travel as data. Whether a worker
sees the client's reports folder is found out, not assumed: the client leaves a file named after a random
token in it; a worker that finds that file at the same path runs straight into the folder (nothing is
copied), any other runs in a scratch folder of its own and returns the finished run directory as a tar
archive, which the client checks like any untrusted run directory and renames into place.

What a worker sends back is data, never code. The task returns its outcome as msgpack (plain strings,
numbers and the archive's bytes), and the client reads the cluster with every deserializer but msgpack
turned off: a result, or an error, that a worker pickled is refused, not unpickled. The outcome is then
checked like the archive (its run id, the run's own record and identity). The scheduler is trusted:
Dask lets anyone who reaches it run code, so over a network it is reached by ``tls://`` with Dask's
own mutual TLS, which admits only holders of the cluster's certificates.

A worker that dies takes its task with it, and the scheduler gives the task to another worker (up to
Dask's ``distributed.scheduler.allowed-failures`` deaths, 3 by default). A run that fails on its own
(bad parameters, a diverging loss) returns a failed outcome instead of raising, so it is reported once
and never retried.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any, TextIO

from ..atomic import write_atomic, write_json
from ..layout import CLUSTER_TOKEN_PREFIX, MODEL_FILE, NOTEBOOK_FILE, REPORT_FILE, REPORTS_DIR, RUN_FILE
from ..params import ParameterError
from ..rundir import (
    InvalidRun,
    Run,
    create_run_directory,
    identity_of,
    read_record,
    read_run,
    run_directory,
    run_identity,
)
from ..untrusted import printable
from .sweep import (
    Outcome,
    PlannedRun,
    Sweep,
    drive_sweep,
    parameters_text,
    plan_sweep,
    report_command,
    report_environment,
    report_outcome,
    run_report_process,
)
from .tracking import untracked

COPY_BACK = "DIGITLIB_COPY_BACK"  # set to 1 on a worker: always send runs back, even into a folder it can see
MAX_RUN_BYTES = 1024**3  # a run directory is tens of MB (fast: 32, most of it the not-a-digit banks): more is not a run
# And it does not compress much (weights, PNGs): an archive unpacks to at most this many times its size, plus a bit.
MAX_RATIO, MIN_RUN_LIMIT = 20, 32 * 1024**2
MAX_RUN_FILES = 1000
MAX_RUN_ID = 128  # characters, as digitlib.rundir.RUN_ID allows: a worker's longer one is refused, not shown


# On the worker ------------------------------------------------------------------------------------

def _visible_reports_dir(task: dict[str, Any]) -> Path | None:
    """The client's reports folder, if this worker sees it (the client's token file is there); else None."""
    if os.environ.get(COPY_BACK) == "1":
        return None
    folder = Path(task["reports_dir"])
    try:
        found = (folder / f"{CLUSTER_TOKEN_PREFIX}{task['token']}").read_text(encoding="ascii")
        return folder if found == task["token"] else None
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
    try:
        # In the worker's process group: a worker killed with its group takes its run with it.
        result = run_report_process(report_command(run, shared or scratch), parameters_text(run.parameters),
                                    report_environment(_report_environment()), cwd=scratch)
        outcome = {**report_outcome(result), "worker": _worker_address(), "shared": shared is not None}
        if scratch and "run_id" in outcome and (scratch / outcome["run_id"]).is_dir():
            outcome["archive"] = pack_run(scratch / outcome["run_id"])
        return outcome
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def run_task(task: dict[str, Any]):
    """What the client submits: :func:`run_on_worker`'s outcome, serialized as msgpack here, on the worker, since
    the client reads nothing else (a worker's default would pickle it)."""
    from distributed.protocol.serialize import Serialized, serialize

    return Serialized(*serialize(run_on_worker(task), serializers=("msgpack",), on_error="raise"))


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # called outside a worker (the tests call it directly)
        return "local"


# On the client ------------------------------------------------------------------------------------

class _Capped(io.RawIOBase):
    """A stream's bytes, refused once more than `limit` of them are asked for: what tarfile reads of a worker's
    archive once decompressed, its headers too (it holds a long name's or a pax header in memory whole: a few MB
    of gzip could fill it), so no read returns more than the limit in all."""

    def __init__(self, stream, limit: int):
        super().__init__()
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if len(buffer) > self._left:
            data = self._stream.read(self._left + 1)
            if len(data) > self._left:
                raise InvalidRun("the archive unpacks to more than a run of its size holds")
        else:
            data = self._stream.read(len(buffer))
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def _unpack(archive: bytes, run_id: str, limit: int, into: Path) -> None:
    """Unpack a worker's gzipped tar of the run folder `run_id` into `into`, reading it once, one member at a time:
    refused at the first member that is not a plain file or folder inside the run's folder, once there are too many,
    or once the files add up to more than `limit` bytes (or the archive, headers included, decompresses to more)."""
    files, total = 0, 0
    decompressed = _Capped(gzip.GzipFile(fileobj=io.BytesIO(archive)), limit + 1024 * (MAX_RUN_FILES + 64))
    with tarfile.open(fileobj=io.BufferedReader(decompressed), mode="r|") as unpacked:
        for member in unpacked:
            files += 1
            if files > MAX_RUN_FILES:
                raise InvalidRun(f"the archive holds more than a run's {MAX_RUN_FILES} files")
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts or not name.parts or name.parts[0] != run_id:
                raise InvalidRun(f"the archive's member {printable(member.name[:200])!r} lies outside the run "
                                 f"folder {run_id}")
            if not (member.isfile() or member.isdir()) or member.size < 0:
                raise InvalidRun(f"the archive's member {printable(member.name[:200])!r} is not a plain file or "
                                 "folder")
            total += member.size if member.isfile() else 0  # a folder's size field means nothing to tarfile
            if total > limit:
                raise InvalidRun(f"the archive unpacks to more than {limit:,} bytes, more than a run of its size "
                                 "holds")
            unpacked.extract(member, into, filter="data")


def _settled(run_dir: Path, worker: str) -> None:
    """A received run still marked running or rendering ended when its process on the worker did: mark it
    interrupted, as a local run whose process is gone reads (its pid means nothing on this machine)."""
    record = read_record(run_dir)  # validated, with its status as written (read_run reads a dead local pid)
    if record["status"] in ("running", "rendering"):
        record.update(status="interrupted", pid=None,
                      error=f"its process on worker {printable(worker)[:200]} ended without finishing")
        write_json(run_dir / RUN_FILE, record)


def _rerendered(run_dir: Path) -> None:
    """The report page rendered here, from the run's notebook, by digitlib's own template and its content
    security policy: a page sent by a worker could carry script. Without a notebook there is no page."""
    from .runner import render_html

    (run_dir / REPORT_FILE).unlink(missing_ok=True)
    if (run_dir / NOTEBOOK_FILE).is_file():
        try:
            render_html(run_dir / NOTEBOOK_FILE, run_dir / REPORT_FILE, called=f"the report of run {run_dir.name}")
        except Exception as error:  # noqa: BLE001 - any way a hostile notebook fails to render refuses the run
            raise InvalidRun(f"its {NOTEBOOK_FILE} does not render ({type(error).__name__})") from None


def receive_run(reports_dir: Path, run_id: Any, archive: bytes, identity: str,
                worker: str = "the worker") -> tuple[Path, Run]:
    """Unpack a run directory sent by a worker into `reports_dir`, atomically, if it validates as a run
    directory read back (:func:`digitlib.rundir.read_run`) and is the run asked for (its `identity`).

    It is unpacked into a hidden folder inside `reports_dir`, checked, its report page rendered again here,
    then renamed into place; its directory and record are returned. Raises
    :class:`~digitlib.rundir.InvalidRun` saying why not.
    """
    _plain_run_directory(reports_dir, run_id)
    incoming = Path(tempfile.mkdtemp(dir=reports_dir, prefix=".incoming-"))
    try:
        try:
            _unpack(archive, run_id, min(MAX_RUN_BYTES, MIN_RUN_LIMIT + MAX_RATIO * len(archive)), incoming)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise InvalidRun(f"the archive does not unpack ({type(error).__name__})") from None
        run = _checked_in_place(incoming / run_id, identity, worker)
        try:
            target = create_run_directory(reports_dir, run_id)  # an empty, fresh name: the rename replaces it
            os.replace(incoming / run_id, target)
        except OSError as error:
            raise InvalidRun(f"it cannot be moved into place ({type(error).__name__})") from None
        return target, replace(run, run_id=target.name, directory=target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _checked_in_place(run_dir: Path, identity: str, worker: str) -> Run:
    """The record of the run folder a worker made, read back like any run folder (:func:`read_run`) and only
    if it is the run asked for; a run left running marked interrupted, its page rendered here. Raises InvalidRun."""
    try:
        if identity_of(read_run(run_dir)) != identity:  # before anything is written: it may be another, live run
            raise InvalidRun("it is not the run that was asked for (is digitlib the same version on the workers?)")
        _settled(run_dir, worker)
        run = read_run(run_dir)
        try:
            _rerendered(run_dir)
        except InvalidRun as refused:  # its page is gone: in a shared folder, the run stays, failed (not run again)
            record = read_record(run_dir)
            record.update(status="failed", pid=None, error=f"refused here: {refused}")
            write_json(run_dir / RUN_FILE, record)
            raise
    except OSError as error:  # a folder where a file goes (report.html/), say
        raise InvalidRun(f"its files are not a run's ({type(error).__name__})") from None
    return run


def read_shared_run(reports_dir: Path, run_id: Any, identity: str, worker: str) -> tuple[Path, Run]:
    """A run a worker says it wrote straight into `reports_dir` (the shared folder): checked as a run sent back
    is (:func:`_checked_in_place`), and only if it is a plain run id there. Raises InvalidRun."""
    run_dir = _plain_run_directory(reports_dir, run_id)
    return run_dir, _checked_in_place(run_dir, identity, worker)


def _plain_run_directory(reports_dir: Path, run_id: Any) -> Path:
    """:func:`digitlib.rundir.run_directory` for a run id a worker sent: InvalidRun unless it is a plain name."""
    try:
        return run_directory(reports_dir, run_id)
    except ParameterError as error:
        raise InvalidRun(printable(str(error))) from None


def connect(scheduler: str, timeout: str | float | None = None):
    """A `distributed.Client` of the scheduler at `scheduler` that reads only data from the cluster
    (:func:`_data_only_client`), with Dask's own security configuration (its TLS files, for ``tls://``);
    a ParameterError, creating nothing, when no Dask scheduler answers there within `timeout` (default:
    Dask's ``distributed.comm.timeouts.connect``)."""
    import asyncio

    try:
        import dask
        from dask.utils import parse_timedelta
        from distributed.comm import connect as probe
        from distributed.security import Security
    except ImportError:
        raise ParameterError("--scheduler needs Dask: install digitlib with its dask extra "
                             "(pip install 'digitlib[dask]')") from None
    setting = timeout or dask.config.get("distributed.comm.timeouts.connect")
    try:
        seconds = parse_timedelta(setting, default="s")
    except (KeyError, ValueError, TypeError):
        raise ParameterError(f"Dask's connect timeout {printable(str(setting))[:60]!r} is no duration "
                             "(distributed.comm.timeouts.connect, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT): write "
                             "one such as 30s") from None
    try:
        security = Security()  # Dask's configuration: distributed.comm.tls.* (DASK_DISTRIBUTED__COMM__TLS__...)
        arguments = security.get_connection_args("client")
    except (OSError, ValueError) as error:  # a TLS file that is not there, or holds no certificate or key
        reason = printable((str(error).splitlines() or [""])[0][:300]) or type(error).__name__
        raise ParameterError(f"Dask's TLS configuration cannot be used ({reason}); check distributed.comm.tls.* "
                             "(DASK_DISTRIBUTED__COMM__TLS__CA_FILE and the client's cert and key)") from None

    async def scheduler_answers() -> None:
        comm = await probe(scheduler, timeout=seconds, deserialize=False, **arguments)
        try:
            await comm.write({"op": "identity", "reply": True})
            answer = await comm.read()
        finally:
            comm.abort()
        if not (isinstance(answer, dict) and answer.get("type") == "Scheduler"):
            raise ValueError("something answered there, but not a Dask scheduler (the dashboard's port?)")

    try:  # a bare connection first: a failed Client makes noise at exit, and retries for longer
        asyncio.run(asyncio.wait_for(scheduler_answers(), seconds + 1))
        return _data_only_client()(scheduler, timeout=seconds, set_as_default=False, security=security,
                               deserializers=DATA_ONLY, direct_to_workers=False)
    except Exception as error:  # noqa: BLE001 - whatever the far end did (silence, junk, TLS), the answer is one line
        reason = printable((str(error).splitlines() or [""])[0][:300]) or type(error).__name__
        if scheduler.startswith("tls://") and not arguments.get("ssl_context"):
            reason += "; tls:// needs Dask's TLS files (distributed.comm.tls.ca-file, .client.cert, .client.key)"
        raise ParameterError(f"cannot reach the Dask scheduler at {printable(scheduler)!r} ({reason}); start one "
                             "with `dask scheduler` and give its address, such as tcp://HOST:8786") from None


@contextmanager
def _unpickling_refused() -> Iterator[None]:
    """While a sweep talks to the cluster: Dask's message decoder refuses the pickles it would otherwise load
    whatever the deserializers (``__Pickled__`` items: the scheduler sends them only to workers, but a scheduler
    that a hostile peer took over could send them here), and Dask's protocol loggers, which quote what peers
    sent, stay quiet. Pickling (this sweep's own tasks) works as ever."""
    import logging

    from distributed.protocol import core

    def refuse(*arguments, **options):
        raise TypeError("digitlib's sweep unpickles nothing that comes from the cluster")

    real = core.pickle
    loggers = [logging.getLogger(name) for name in ("distributed.protocol.core", "distributed.protocol.pickle")]
    quiet = [logger.disabled for logger in loggers]
    core.pickle = SimpleNamespace(dumps=real.dumps, loads=refuse)
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        core.pickle = real
        for logger, was in zip(loggers, quiet):
            logger.disabled = was


DATA_ONLY = ("msgpack",)  # the only deserializer the client uses: plain values and bytes, never a pickle


class WorkerError(Exception):
    """A task raised on a worker; only the name of its error is known here (the error itself came pickled)."""


@cache
def _data_only_client() -> type:
    """:class:`distributed.Client` that unpickles nothing a worker sent. Results are read with msgpack alone
    (:data:`DATA_ONLY`); the scheduler's report stream, which passes on what workers put in it, is read without
    deserializing, and its three messages that carry pickles are read without them: an error (only its class
    name, :func:`_error_name`), a result's type (not needed) and events ("print", "warn": ignored)."""
    from distributed import Client

    class DataOnlyClient(Client):
        async def _ensure_connected(self, timeout=None):
            await super()._ensure_connected(timeout)  # (re)connects the report stream, then it is read from
            if self.scheduler_comm is not None and self.scheduler_comm.comm is not None:
                self.scheduler_comm.comm.deserialize = False

        def _handle_key_in_memory(self, key=None, type=None, workers=None):  # noqa: A002 - Dask's name
            super()._handle_key_in_memory(key=key, type=None, workers=workers)

        def _handle_task_erred(self, key=None, exception=None, traceback=None):
            super()._handle_task_erred(key=key, exception=WorkerError(_error_name(exception)), traceback=None)

        async def _handle_event(self, topic, event):
            return None

    return DataOnlyClient


def _error_name(error: Any) -> str:
    """The class name of an error a worker sent pickled, read from the pickle's opcodes, never unpickled: the
    first class (a capitalized name) among the objects it imports."""
    import pickletools

    from distributed.protocol.serialize import Serialized

    if not (isinstance(error, Serialized) and error.frames):
        return "an error"
    strings: list[str] = []
    try:
        for opcode, argument, _ in pickletools.genops(bytes(error.frames[0])[:65536]):
            name = str(argument).split()[-1] if opcode.name in ("GLOBAL", "INST") else \
                strings[-1] if opcode.name == "STACK_GLOBAL" and strings else ""
            if name[:1].isupper():
                return printable(name)[:100]
            if isinstance(argument, str):
                strings.append(argument)
    except Exception:  # noqa: BLE001 - a damaged or cut pickle: no name to show
        pass
    return "an error"


OUTCOME = {"status": str, "run_id": str, "test_accuracy": (int, float), "error": str, "worker": str, "shared": bool,
           "archive": bytes}


def _checked_outcome(outcome: Any) -> dict[str, Any]:
    """A worker's outcome if it has the shape :func:`run_on_worker` gives it; else a failed one saying so."""
    if not (isinstance(outcome, dict) and set(outcome) <= set(OUTCOME) and "status" in outcome
            and all(isinstance(outcome[key], kind) for key, kind in OUTCOME.items() if key in outcome)
            and outcome["status"] in ("succeeded", "failed") and len(outcome.get("archive", b"")) <= MAX_RUN_BYTES
            and len(outcome.get("run_id", "")) <= MAX_RUN_ID):
        return {"status": "failed", "error": "digitlib: a worker answered with something that is not a run's outcome"}
    return {**outcome, "error": printable(outcome.get("error", ""))[:1000], "worker": printable(outcome.get("worker",
                                                                                                         "?"))[:200]}


@contextmanager
def _token_file(reports_dir: Path) -> Iterator[str]:
    """A random token, left in `reports_dir` while the sweep runs, by which a worker knows it sees the folder."""
    token = secrets.token_hex(16)
    path = write_atomic(reports_dir / f"{CLUSTER_TOKEN_PREFIX}{token}", token)
    try:
        yield token
    finally:
        path.unlink(missing_ok=True)


def _collected(future, run: PlannedRun, reports_dir: Path) -> Outcome:
    """A finished task's outcome, its run read back like any untrusted run folder: received (and indexed) here,
    once, or read where the worker says it wrote it in the shared folder. Its status and accuracy are the run's
    own record's, never what the worker claims."""
    from .runner import update_index

    def failed(error: str, **known: Any) -> Outcome:
        return Outcome(run.parameters, run.backend, "failed", error=error, **known)

    if future.status == "cancelled":
        return failed("digitlib: the scheduler cancelled its task (was it restarted?)")
    if future.status == "error":
        name = str(future.exception())
        if name == "KilledWorker":
            return failed("digitlib: workers kept dying while running it (Dask's "
                          "distributed.scheduler.allowed-failures); not tried again")
        return failed(f"digitlib: the run could not run on a worker: it raised {name} (not "
                      "unpickled here; the worker's log has the whole error)")
    try:
        answer = _checked_outcome(future.result())
    except Exception as error:  # noqa: BLE001 - an answer that is not msgpack (a pickle) is refused, not read
        return failed(f"digitlib: a worker's answer was refused ({type(error).__name__}: "
                      f"{printable(str(error))[:200]})")
    archive, worker = answer.pop("archive", None), answer.get("worker", "?")
    if "run_id" not in answer:
        return failed(answer["error"] or "digitlib: the worker made no run", worker=worker)
    identity = run_identity(run.parameters, backend=run.backend)
    try:
        if archive is not None:
            run_dir, record = receive_run(reports_dir, answer["run_id"], archive, identity, worker)
        elif answer.get("shared"):  # written into the shared folder (and indexed) by the runner on the worker
            run_dir, record = read_shared_run(reports_dir, answer["run_id"], identity, worker)
        else:
            raise InvalidRun("it sent neither the run nor word of a shared folder")
    except InvalidRun as problem:
        return failed(f"digitlib: the run sent back by worker {worker} was refused: {printable(str(problem))}",
                      worker=worker)
    succeeded = record.status == "succeeded" and record.metrics is not None
    if archive is not None:
        update_index(reports_dir, run_dir if succeeded and (run_dir / MODEL_FILE).is_file() else None)
    sent = {"run_id": run_dir.name, "worker": worker, "shared": answer.get("shared")}
    if succeeded:
        return Outcome(run.parameters, run.backend, "succeeded", test_accuracy=record.test_accuracy,
                       **sent)
    return failed(answer["error"] if answer["status"] == "failed" else
                  f"digitlib: run {run_dir.name} {record.status}: {printable(str(record.error))[:500]}",
                  **sent)


class _ClusterTransport:
    """A sweep's runs as tasks on a Dask cluster (:func:`run_task`), each collected by :func:`_collected`."""

    def __init__(self, client, reports_dir: Path, token: str):
        self.client, self.reports_dir, self.token = client, reports_dir, token

    def submit(self, run: PlannedRun):
        task = {"parameters": run.parameters, "backend": run.backend, "resume": run.resume,
                "reports_dir": str(self.reports_dir.resolve()), "token": self.token}
        key = f"digitlib-run-{uuid.uuid4().hex}"  # a fresh key: the same parameters may run again later
        return self.client.submit(run_task, task, key=key, pure=False)

    def finished(self, futures: Collection[Any]) -> Iterator[Any]:
        from distributed import as_completed  # for Dask's futures; it reads no result: _collected does

        return as_completed(futures, loop=self.client.loop)

    def outcome(self, future, run: PlannedRun) -> Outcome:
        return _collected(future, run, self.reports_dir)

    def stop(self, futures: Collection[Any]) -> tuple[int, int, int]:
        """Cancel the tasks not finished: a run already executing finishes on its worker, uncollected. How many
        were interrupted (none), never started, and go on running on their workers."""
        unfinished = [future for future in futures if not future.done()]
        try:
            processing = {key for keys in self.client.processing().values() for key in keys}
        except Exception:  # noqa: BLE001 - the scheduler gone too: say none is known to run
            processing = set()
        running = sum(future.key in processing for future in unfinished)
        self.client.cancel(unfinished)
        return 0, len(unfinished) - running, running


def run_sweep_on_cluster(sweep: Sweep, scheduler: str, reports_dir: str | os.PathLike = REPORTS_DIR,
                         log: TextIO | None = None, tracker=None) -> list[Outcome]:
    """Run every parameter set not already done as a task on the Dask cluster at `scheduler`; as
    :func:`digitlib.run.sweep.run_sweep` otherwise (skipping, one line per run, progress bar, outcomes, MLflow:
    a run is logged here, by the client, once its directory is received or written to the shared folder)."""
    log = log or sys.stdout
    reports_dir = Path(reports_dir)
    skipped, pending = plan_sweep(sweep, reports_dir)
    if _unprotected(scheduler):
        print(f"digitlib: warning: {printable(scheduler)} is neither encrypted nor authenticated: whoever reaches the "
              "scheduler can run code on the cluster (and, through it, here); use tls:// (docs/sweeps.md)", file=log)
    with _unpickling_refused(), connect(scheduler) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        waiting = "" if workers else " (runs wait until one joins)"
        print(f"Dask scheduler {scheduler}: {workers} worker{'' if workers == 1 else 's'}{waiting}; "
              f"dashboard: {client.dashboard_link}", file=log)
        reports_dir.mkdir(parents=True, exist_ok=True)
        with _token_file(reports_dir) as token:
            return drive_sweep(sweep, skipped, pending, _ClusterTransport(client, reports_dir, token), reports_dir,
                               log, tracker)


def _unprotected(scheduler: str) -> bool:
    """Whether `scheduler` is reached without TLS over a network (tcp:// or ws:// to anything but this machine)."""
    import ipaddress
    from urllib.parse import urlsplit

    if "://" not in scheduler:  # HOST:8786 is tcp:// to Dask
        scheduler = f"tcp://{scheduler}"
    if not scheduler.startswith(("tcp://", "ws://")):  # Dask's plain TCP and websockets: no TLS (tls://, wss://)
        return False
    host = urlsplit(scheduler).hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"
