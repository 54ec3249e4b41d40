"""Running a report: papermill executes the notebook into its own run directory, nbconvert renders it.

A run directory ``reports/<run-id>/`` holds ``run.json`` (status, parameters,
timing, error), the executed ``notebook.ipynb``, ``report.html``,
``metrics.json`` and ``model.keras``. Runs never share or reuse a directory;
``reports/index.html`` is refreshed after each run, and ``reports/latest`` links
the newest successful run that trained a model.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..atomic import write_atomic, write_json
from ..backends import EARLIER_RUNS_BACKEND, choose_backend, environment, kernel_environment
from ..layout import KERNEL_LOG, MODEL_FILE, NOTEBOOK_FILE, REPORT_FILE, REPORTS_DIR, RUN_FILE
from ..models import model_spec
from ..params import TRAINING, ParameterError, absolute_paths, validate_recorded
from ..params import notebook as notebook_called
from ..rundir import (
    InvalidRun,
    create_run_directory,
    load_jsonschema,
    process_alive,
    read_metrics,
    read_record,
    run_directory,
    run_identity,
)
from ..untrusted import clear_own_file, open_regular_file, printable, valid_unicode
from .index import InTheWay, locked, write_index
from .native import native_stderr_to
from .pages import (
    CONTENT_SECURITY_POLICY,
    TEMPLATES,
    add_contents,
    arrange_report,
    images_without_alt,
    strip_active_markup,
)
from .resources import check_memory

# TensorFlow's C++ start-up chatter goes to the kernel's native stderr. Keep ipykernel from copying
# it into the notebook, and send it to the run's kernel.log instead of the terminal.
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    status: str  # "succeeded", "failed", "timed out" or "interrupted"
    error: str | None = None

    @property
    def report(self) -> Path:
        return self.run_dir / REPORT_FILE

    @property
    def metrics(self) -> dict[str, Any] | None:
        return read_metrics(self.run_dir)

    def as_dict(self) -> dict[str, Any]:
        """What `digitlib report --json` prints: the run, how it ended, where its files are, and a warning
        when it learned little (None otherwise)."""
        from ..report.diagnosis import diagnose_metrics

        metrics = self.metrics if self.status == "succeeded" else None
        return {"run_id": self.run_dir.name, "status": self.status, "error": self.error,
                "run_dir": valid_unicode(self.run_dir),  # JSON: a name's bytes that are not UTF-8 escaped, as \xe9
                "report": valid_unicode(self.report) if self.report.exists() else None,
                "test_accuracy": metrics["test"]["accuracy"] if metrics else None,
                "warning": diagnose_metrics(metrics)}


def run_id_for(parameters: Mapping[str, Any], when: datetime, notebook: str = TRAINING.name,
               backend: str | None = None) -> str:
    """Timestamp plus the first digits of the run's identity: sortable, and tells runs apart at a glance."""
    return f"{when:%Y%m%d-%H%M%S}-{run_identity(parameters, notebook=notebook, backend=backend)[:8]}"


class ReaderGone(KeyboardInterrupt):
    """The reader of a run's output went away (`digitlib report | head -3`): the run stops as on Ctrl-C, marked
    interrupted (resumable), and the command line exits 141 as a shell's writer into a closed pipe would."""

    reader_gone = True  # what the command line looks for


class _Output:
    """Where a run's lines and its kernel's output go: `stream`, until the reader of that pipe goes away."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise ReaderGone from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise ReaderGone from None


class _StoppedKernelCells(logging.Filter):
    """Keeps asyncio quiet about a cell whose kernel an interrupted run stopped: the cell's task ends with nbclient's
    DeadKernelError after papermill has given up on it, and asyncio would print that unretrieved exception, with a
    traceback, when the task is collected (`digitlib report | head -3` sometimes did)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from nbclient.exceptions import DeadKernelError

        return not (record.exc_info and isinstance(record.exc_info[1], DeadKernelError))


def quiet_stopped_kernel_cells() -> None:
    """From now on, asyncio's log leaves out cells whose kernel died (once per process, however often called)."""
    log = logging.getLogger("asyncio")
    if not any(isinstance(existing, _StoppedKernelCells) for existing in log.filters):
        log.addFilter(_StoppedKernelCells())


MAX_NOTEBOOK_BYTES = 64_000_000  # an executed report, its figures embedded, takes a few MB (0.8 MB: a quick one)


def render_html(notebook_path: Path, html_path: Path, *, show_code: bool = False, called: str | None = None) -> Path:
    """One self-contained HTML file: images embedded, each with its alt text, a table of contents of its sections,
    no script, nothing that acts (pages.strip_active_markup), code hidden unless asked (folded under "code" when
    kept). The notebook is read as a run's file: a regular file only (a FIFO would block the reader) of at most
    MAX_NOTEBOOK_BYTES; ValueError otherwise. `called`: what warnings name the page by (default: its path).
    """
    load_jsonschema()  # before nbformat imports it: without the grammar that takes seconds
    import nbformat
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    with open_regular_file(Path(notebook_path), ValueError) as file:
        content = file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(content) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{notebook_path}: larger than {MAX_NOTEBOOK_BYTES:,} bytes, more than a report holds")

    exporter = HTMLExporter(
        template_name="report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=not show_code,
        exclude_input_prompt=not show_code,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(arrange_report(nbformat.reads(content.decode("utf-8"), as_version=4)),
                                          resources={"content_security_policy": CONTENT_SECURITY_POLICY})
    page = BeautifulSoup(body, "html.parser")
    shown = called or printable(html_path)
    removed = strip_active_markup(page)
    if removed:  # an output or markdown cell that carried them: by hand in JupyterLab, or from a hostile worker
        kinds = ", ".join(f"<{name}>" for name in dict.fromkeys(removed))
        print(f"digitlib: warning: left {len(removed)} element(s) out of {shown} that a report does "
              f"not carry ({kinds}): it shows what the notebook computed and acts on nothing", file=sys.stderr,
              flush=True)
    add_contents(page)
    unsaid = images_without_alt(page)
    if unsaid:  # a figure made outside digitlib's figure functions (one added by hand in JupyterLab)
        print(f"digitlib: warning: {len(unsaid)} image(s) in {shown} have no alt text saying what "
              "they show; return a digitlib.report.figures.DescribedFigure for each", file=sys.stderr, flush=True)
    return write_atomic(html_path, str(page))


def _now() -> datetime:
    return datetime.now(UTC).astimezone()


def cannot_write(path: Path, error: OSError) -> ParameterError:
    """The one line a command prints when a run cannot write `path`: a full disk, a quota or a file size limit
    named as such, with what to do."""
    shown = printable(path)
    if error.errno == errno.ENOSPC:
        return ParameterError(f"no space left on device writing {shown}; free space and run again")
    if error.errno == errno.EDQUOT:
        return ParameterError(f"disk quota exceeded writing {shown}; free space and run again")
    if error.errno == errno.EFBIG:
        return ParameterError(f"file too large writing {shown}: a file size limit (ulimit -f) stops it; raise the "
                              "limit and run again")
    return ParameterError(f"cannot write {shown} ({printable(error.strerror or error)}); choose another reports "
                          "folder with --reports-dir")


def _check_text(parameters: Mapping[str, Any]) -> None:
    """Refuse a parameter whose text is not UTF-8 (a path in another encoding): papermill writes every parameter
    into the executed notebook, which is UTF-8 JSON, and the run would fail there."""
    for name, value in parameters.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and valid_unicode(text) != text:
                raise ParameterError(f"parameter {name!r}={printable(text)} is not UTF-8 text, which a notebook "
                                     "needs; rename it, or pass another")


def _failure_reason(error: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return f"{error.ename}: {error.evalue} (notebook cell {error.exec_count})"
    return f"{type(error).__name__}: {error}"


def run_report(
    parameters: Mapping[str, Any] | None = None,
    *,
    reports_dir: str | os.PathLike = REPORTS_DIR,
    notebook: str = TRAINING.name,
    notebook_path: str | os.PathLike | None = None,
    show_code: bool = False,
    timeout: float | None = None,
    stream: TextIO | None = None,
    backend: str | None = None,
) -> RunResult:
    """Validate `parameters`, execute the notebook with them into a new run directory, render it, index it.

    `notebook` names the parameter contract (and the file notebooks/NAME.ipynb unless
    `notebook_path` is given). Invalid parameters raise :class:`~digitlib.params.ParameterError`
    before anything is created. A notebook that fails still gets its HTML (showing the failing
    cell) and an index row marked failed; the result says so instead of raising. With
    `timeout` (seconds), a cell that runs longer stops the run, marked "timed out". `backend` is the
    Keras backend the kernel trains with (:func:`~digitlib.backends.choose_backend`: by default
    $KERAS_BACKEND, else TensorFlow).
    """
    backend = choose_backend(backend)
    # The kernel runs in the notebook's folder, so a caller's relative paths are made absolute.
    contract = notebook_called(notebook)
    parameters = contract.validate(absolute_paths(notebook, parameters or {}))
    _check_text(parameters)
    if contract.trains:
        check_memory(parameters)  # from the registry's sizes: no Keras in this process, the kernel imports it
    notebook_path = Path(notebook_path or contract.path).resolve()
    reports_dir = Path(reports_dir)
    started = _now()
    made = () if reports_dir.is_dir() else (reports_dir,)
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
        run_dir = create_run_directory(reports_dir, run_id_for(parameters, started, notebook, backend))
    except OSError as error:
        raise ParameterError(f"cannot create a run in the reports folder {reports_dir}: "
                             f"{error.strerror or error}; choose another with --reports-dir") from None
    record: dict[str, Any] = {
        "run_id": run_dir.name,
        "notebook_name": notebook,
        "notebook": str(notebook_path),  # for the reader; a resumed run runs the project's notebook of that name
        "parameters": parameters,
        "started": started.isoformat(timespec="seconds"),
        "backend": backend,
        **({"model_version": model_spec(parameters["model"]).version,
            "identity": run_identity(parameters, backend=backend)} if contract.trains else {}),
    }
    return _execute(run_dir, record, notebook_path, show_code=show_code, timeout=timeout, stream=stream,
                    made=(run_dir, *made))


def resume_report(
    run_id: str,
    *,
    reports_dir: str | os.PathLike = REPORTS_DIR,
    show_code: bool = False,
    timeout: float | None = None,
    stream: TextIO | None = None,
) -> RunResult:
    """Run an unfinished run again in its own directory, with its own parameters; training
    continues from the last epoch it finished (the checkpoint in the run directory)."""
    run_dir = run_directory(reports_dir, run_id)
    if not (run_dir / RUN_FILE).is_file():
        raise ParameterError(f"no run {run_id!r} in {reports_dir} to resume")
    try:  # run.json is data, never code: its notebook is one of ours, its parameters pass the contract
        record = read_record(run_dir)
        record["parameters"] = validate_recorded(record["notebook_name"], record["parameters"])  # as it started
    except (InvalidRun, ParameterError) as problem:
        raise ParameterError(f"run {run_id} cannot be resumed: {problem}") from None
    if record["status"] == "succeeded":
        raise ParameterError(f"run {run_id} already succeeded; there is nothing to resume")
    if record["status"] in ("running", "rendering") and process_alive(record.get("pid")):
        raise ParameterError(f"run {run_id} is still running (process {record['pid']})")
    notebook = run_dir / NOTEBOOK_FILE
    executed = record["status"] == "rendering" and notebook.is_file() and not notebook.is_symlink()
    record["resumed"] = record.get("resumed", 0) + 1
    return _execute(run_dir, record, notebook_called(record["notebook_name"]).path, show_code=show_code,
                    timeout=timeout, stream=stream, render_only=executed)


def _run_context(notebook: str, run_dir: Path) -> dict[str, str]:
    """What the runner tells a notebook besides its parameters (its ``set_by_the_runner``): where to save (and, for
    training, where the finished runs an ensemble may load members from are). `run_dir`: absolute
    (:func:`_utf8_path`)."""
    values = {"output_dir": str(run_dir), "reports_dir": str(run_dir.parent)}
    return {name: values[name] for name in notebook_called(notebook).set_by_the_runner}


@contextmanager
def _utf8_path(run_dir: Path) -> Iterator[Path]:
    """The run directory's absolute path as the notebook gets it. papermill writes it into the executed notebook,
    which is UTF-8 JSON, so a path that is not UTF-8 (a reports folder named in Latin-1) is given as a link to the
    reports folder under a UTF-8 name in a temporary folder, removed afterwards."""
    path = run_dir.resolve()
    if valid_unicode(path) == str(path):
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="digitlib-run-"))
    alias = folder / REPORTS_DIR
    try:
        alias.symlink_to(path.parent, target_is_directory=True)
        yield alias / path.name  # a run id: ASCII
    finally:
        alias.unlink(missing_ok=True)
        folder.rmdir()


def _execute(run_dir: Path, record: dict[str, Any], notebook_path: Path, *, show_code: bool,
             timeout: float | None, stream: TextIO | None, render_only: bool = False,
             made: tuple[Path, ...] = ()) -> RunResult:
    """Execute `notebook_path` into `run_dir` with the record's parameters, render it, and record and
    index the outcome. With `render_only`, the notebook already ran to the end (the run was killed
    while rendering): it is rendered again, nothing is executed or trained.

    A run that cannot even write its record (a full disk) raises a ParameterError saying so in one line, after
    removing the folders `made` for it (a new run's, and the reports folder if it made that), which hold nothing
    then. One that cannot write it at the end fails, with that line as its error.
    """
    output_notebook = run_dir / NOTEBOOK_FILE
    if output_notebook.is_dir() and not output_notebook.is_symlink():  # something of the user's: left alone
        raise ParameterError(f"{printable(output_notebook)} is a folder where the run's executed notebook goes; "
                             "move it away and run again")
    load_jsonschema()  # before papermill's nbformat imports it: without the grammar that takes seconds
    import papermill  # before the record says running: a Ctrl-C during this import leaves it as it was

    reports_dir = run_dir.parent
    clock = time.perf_counter()
    status, error = "failed", None
    output = _Output(stream or sys.stdout)
    record.update(status="rendering" if render_only else "running", pid=os.getpid(), error=None)
    early_interrupt = None
    try:
        write_json(run_dir / RUN_FILE, record)
    except OSError as problem:
        for folder in made:  # innermost first; a folder something else wrote into meanwhile stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise cannot_write(run_dir / RUN_FILE, problem) from None
    except KeyboardInterrupt as interrupt:  # as the record was written (it may say running): recorded below
        early_interrupt = interrupt
    try:
        if early_interrupt:
            raise early_interrupt
        clear_own_file(output_notebook)  # the run's own file, written again: never through a link, nor a FIFO's reader
        if render_only:
            print(f"run {run_dir.name}: the notebook had run to the end; rendering its report again",
                  file=output, flush=True)
        else:
            kernel = kernel_environment(record.get("backend") or EARLIER_RUNS_BACKEND)  # a resumed run keeps its own
            with native_stderr_to(run_dir / KERNEL_LOG), environment(kernel), _utf8_path(run_dir) as where:
                papermill.execute_notebook(
                    str(notebook_path),
                    str(where / NOTEBOOK_FILE),
                    cwd=str(notebook_path.parent),
                    parameters={**record["parameters"], **_run_context(record["notebook_name"], where)},
                    kernel_name="python3",
                    extra_arguments=KERNEL_ARGUMENTS,
                    execution_timeout=timeout,
                    progress_bar=False,
                    stdout_file=output,
                    # Every cell has finished and its outputs are in: stop the kernel at once. A graceful stop
                    # waited ~3 s for TensorFlow's interpreter to tear itself down.
                    shutdown_kernel="immediate",
                )
            # Executed to the end: from here on, a killed run only needs rendering again.
            record.update(status="rendering")
            write_json(run_dir / RUN_FILE, record)
        status = "succeeded"
    except KeyboardInterrupt as interrupt:
        cause = "the reader of its output went away" if isinstance(interrupt, ReaderGone) else "Ctrl-C or SIGTERM"
        status, error = "interrupted", f"interrupted ({cause}); digitlib report --resume continues it"
        quiet_stopped_kernel_cells()
        interrupt.marked_run = run_dir.name  # what the command's last line names: the run recorded as interrupted
        raise
    except TimeoutError as exception:  # nbclient's CellTimeoutError
        status, error = "timed out", f"a cell ran longer than the {timeout:g} s timeout ({exception})"
    except Exception as exception:  # noqa: BLE001 - any failure is recorded, rendered and reported
        error = _failure_reason(exception)
    finally:
        if output_notebook.exists():
            try:
                render_html(output_notebook, run_dir / REPORT_FILE, show_code=show_code)
            except Exception as exception:  # noqa: BLE001 - a broken render must not hide the run's status
                error = error or f"rendering failed: {_failure_reason(exception)}"
                status = "failed" if status == "succeeded" else status
        record.update(status=status, error=error, finished=_now().isoformat(timespec="seconds"),
                      wall_seconds=round(time.perf_counter() - clock, 1))
        try:
            write_json(run_dir / RUN_FILE, record)
        except OSError as problem:  # the record still says running: it reads as interrupted, and resumes
            status, error = "failed", str(cannot_write(run_dir / RUN_FILE, problem))
        update_index(reports_dir, run_dir if status == "succeeded" and (run_dir / MODEL_FILE).exists() else None)
    return RunResult(run_dir=run_dir, status=status, error=error)


def update_index(reports_dir: Path, latest: Path | None) -> None:
    """Point reports/latest at `latest` (a new training run), then rebuild the index and reports/best from
    all the runs. The run's own files are already written: if the shared files cannot be, the run stands
    and this only warns, in one line (what to move, when something of the user's is in the way)."""
    try:
        with locked(reports_dir):
            write_index(reports_dir, latest)  # and reports/best: recomputed, so a deleted run is handled here
    except InTheWay as blocked:
        print(f"digitlib: warning: the run's own files are written, but {printable(str(blocked))}", file=sys.stderr,
              flush=True)
    except OSError as error:
        print(f"digitlib: warning: the run's own files are written, but {printable(reports_dir)}/index.html, "
              f"{printable(reports_dir)}/latest or {printable(reports_dir)}/best could not be updated "
              f"({printable(error.strerror or error)}); the next run rebuilds them", file=sys.stderr, flush=True)
