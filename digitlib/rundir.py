"""A run directory, ``reports/<run-id>/``: its name, its files, and reading it back without trusting it.

Anyone can drop a folder into the reports folder or edit a run's JSON, so what is read back is
data to check, never instructions: a run id is a plain name inside the reports folder, a run's id
is its directory's name, ``run.json`` and ``metrics.json`` must match their schemas, and the
parameters in ``run.json`` must pass the same validation as fresh ones. A directory that does not
validate is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from .backends import EARLIER_RUNS_BACKEND, configured_backend
from .layout import (
    IDX_FILES,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    kept_for,
)
from .models import capability
from .params import (
    TRAINING,
    Notebook,
    ParameterError,
    as_recorded,
    model_label,
    notebook_names,
    validate_notebook_parameters,
)
from .params import notebook as notebook_called
from .untrusted import open_regular_file

RUN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
MAX_JSON_BYTES = 10_000_000  # a run's JSON is a few kB; a bigger one is not ours
MAX_EXACT_INTEGER = 2**53  # beyond it a float, and so JavaScript and most JSON readers, holds an integer inexactly


class RunDirectoryWarning(UserWarning):
    """A folder in the reports folder is skipped: its run.json or metrics.json does not validate."""


class InvalidRun(ValueError):
    """A run directory whose files do not validate; the message says which file and why."""


class _InexactInteger(ValueError):
    pass


def run_directory(reports_dir: str | os.PathLike, run_id: Any) -> Path:
    """The directory of run `run_id` inside `reports_dir`; a ParameterError for anything but a plain name, or a
    name the reports folder keeps for its index page and links (:data:`digitlib.layout.KEPT`)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ParameterError(f"{run_id!r} is not a run id: use the name of a folder in {reports_dir} "
                             "(as listed in its index.html), such as 20261125-101500-1a2b3c4d")
    path = Path(reports_dir) / run_id
    if path.is_symlink():
        raise ParameterError(f"{run_id!r} is a link to a run, not a run; use the run's own id "
                             f"({os.readlink(path)})")
    if kept_for(run_id):
        raise ParameterError(f"{run_id!r} is kept for the reports folder's {kept_for(run_id)}, not a run id; use a "
                             "run's own id, such as 20261125-101500-1a2b3c4d")
    return path


@cache
def _schema(name: str) -> dict[str, Any]:
    return json.loads((Path(__file__).parent / name).read_text(encoding="utf-8"))


def _is_integer(checker, instance: Any) -> bool:
    """An integer as JSON wrote one: a Python int, never a bool, nor a float such as 10000.0 (which jsonschema's
    "integer" accepts, and which then fails where a count must be a whole number)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator(name: str):
    """The validator of digitlib's schema file `name`, the schema itself checked once per process
    (jsonschema.validate checks it against its metaschema on every call: 0.08 s a file); its "integer" is
    :func:`_is_integer`."""
    jsonschema = load_jsonschema()
    schema = _schema(name)
    kind = jsonschema.validators.validator_for(schema)
    kind.check_schema(schema)
    strict = jsonschema.validators.extend(kind, type_checker=kind.TYPE_CHECKER.redefine("integer", _is_integer))
    return strict(schema)


def kind_of(path: Path) -> str:
    """What `path` is, in two words: 'a folder', 'a FIFO', 'a file'... (following links)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a broken link" if path.is_symlink() else "missing"
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")]
    return next((kind for test, kind in kinds if test(mode)), "a file")


class _NotRegular(OSError):
    pass


def read_run_file(path: Path, limit: int) -> bytes:
    """The content of a run's file, read as untrusted: a regular file only (a FIFO would block the reader forever,
    /dev/zero never ends), and at most `limit` bytes, as read (a size is not trusted). Raises :class:`InvalidRun`."""
    try:
        with open_regular_file(path, _NotRegular) as file:
            content = file.read(limit + 1)
    except _NotRegular:
        raise InvalidRun(f"{path.name} is not a regular file but {kind_of(path)}; remove it") from None
    except OSError as error:
        raise InvalidRun(f"{path.name} is unreadable ({error.strerror or type(error).__name__})") from None
    if len(content) > limit:
        raise InvalidRun(f"{path.name} is larger than {limit:,} bytes")
    return content


def load_jsonschema():
    """jsonschema, imported without the optional rfc3987_syntax, whose grammar takes seconds to build each time a
    process imports it (JupyterLab's extra installs it; jsonschema would load it for the "iri" format, which no
    schema of digitlib's uses). Only this import is kept from it: a later ``import rfc3987_syntax`` works."""
    import sys

    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # an import of it raises ImportError, which jsonschema expects
    try:
        import jsonschema
    finally:
        if blocked:
            del sys.modules["rfc3987_syntax"]
    return jsonschema


def read_json(path: Path, schema: str) -> dict[str, Any]:
    """The JSON file `path` if it matches digitlib's `schema` file; :class:`InvalidRun` saying why if not.

    A number that is not finite (NaN, Infinity, -Infinity, which Python's json reads though JSON has no such number,
    or 1e999, which overflows) reads as null, as digitlib writes one now (earlier versions wrote a diverged loss as
    NaN): the schema then decides, and allows null only where a diverged network leaves one (per-epoch history, test
    loss, calibration). No schema bound would refuse NaN itself: NaN < 0 and NaN > 1 are both false.

    An integer beyond ±2**53 (:data:`MAX_EXACT_INTEGER`), which no float holds exactly and which Python's json would
    read whole (1 and 400 zeros: too large to convert to a float, so any arithmetic on it with a float fails), is
    refused, as is a float where the schema wants an integer (:func:`_is_integer`).
    """
    def finite_or_null(text: str) -> float | None:
        number = float(text)  # 1e999 is inf
        return number if math.isfinite(number) else None

    def exact_integer(text: str) -> int:
        number = int(text) if len(text) <= len(str(-MAX_EXACT_INTEGER)) else None  # a long text is never converted
        if number is None or abs(number) > MAX_EXACT_INTEGER:
            raise _InexactInteger(f"{path.name} holds the integer {text[:24]}{'…' * (len(text) > 24)} "
                                  f"({len(text.lstrip('-')):,} digits), beyond ±2**53: no float holds it exactly")
        return number

    content = read_run_file(path, MAX_JSON_BYTES)
    try:
        value = json.loads(content.decode("utf-8"), parse_constant=lambda text: None, parse_float=finite_or_null,
                           parse_int=exact_integer)
    except _InexactInteger as error:
        raise InvalidRun(str(error)) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidRun(f"{path.name} is unreadable ({type(error).__name__})") from None
    jsonschema = load_jsonschema()  # not for a file refused before

    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(value))  # what validate() raises
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        raise InvalidRun(f"{path.name} does not match its schema at {where}: {error.message[:200]}") from None
    return value


def read_record(run_dir: str | os.PathLike) -> dict[str, Any]:
    """run.json, validated: its schema, a known notebook, and parameters that pass that notebook's contract.

    The run's id is the directory's name, whatever the file says. Raises :class:`InvalidRun`.
    """
    run_dir = Path(run_dir)
    record = read_json(run_dir / RUN_FILE, "run.schema.json")
    notebook = record.setdefault("notebook_name", TRAINING.name)  # runs made before it was recorded trained
    if notebook not in notebook_names():
        raise InvalidRun(f"{RUN_FILE} names an unknown notebook {notebook[:64]!r}")
    try:
        validate_notebook_parameters(notebook, record["parameters"])
    except ParameterError as error:
        raise InvalidRun(f"{RUN_FILE} holds invalid parameters: {str(error)[:300]}") from None
    record["run_id"] = run_dir.name
    return record


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """metrics.json validated: its schema, and parameters that pass the training notebook's contract (what
    comparisons show of a run). None when the run has none (it did not finish). Raises :class:`InvalidRun`.

    A per-epoch value recorded as null (not finite: the epoch diverged; JSON has no NaN), or as NaN by an earlier
    version, reads back as NaN, as Keras' history held it (:func:`history_read_back`).
    """
    path = Path(run_dir) / METRICS_FILE
    if not os.path.lexists(path):
        return None
    metrics = read_json(path, "metrics.schema.json")
    try:
        TRAINING.validate(metrics["parameters"])
    except ParameterError as error:
        raise InvalidRun(f"{METRICS_FILE} holds invalid parameters: {str(error)[:300]}") from None
    metrics["training"]["history"] = history_read_back(metrics["training"]["history"])
    return metrics


def history_read_back(history: Mapping[str, list[float | None]]) -> dict[str, list[float]]:
    """Keras' per-epoch history as recorded in a run's (or an ensemble member's) JSON, with each null (a value that
    was not finite: the epoch diverged) as NaN again, as Keras held it."""
    return {key: [math.nan if value is None else value for value in values] for key, values in history.items()}


def create_run_directory(reports_dir: Path, run_id: str) -> Path:
    """Make a directory no other run has: mkdir is atomic, so two runs can never get the same one. Never one of the
    names the reports folder keeps for its index page and links (a ParameterError)."""
    if kept_for(run_id):
        raise ParameterError(f"{run_id!r} is kept for the reports folder's {kept_for(run_id)}, not a run id")
    for attempt in range(1, 1000):
        candidate = reports_dir / (run_id if attempt == 1 else f"{run_id}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run directory for {run_id} in {reports_dir}")


# What a run's result depends on besides its parameters. Where the data lives does not count: the
# loader accepts only files with MNIST's published SHA-256s, and those are part of the identity.
NOT_IDENTITY = ("data_dir",)


def run_identity(parameters: Mapping[str, Any], *, notebook: str = TRAINING.name, backend: str | None = None,
                 model_version: int | None = None) -> str:
    """The SHA-256 of everything that determines a run's result, as hex.

    For a training run: its parameters (what it did not record filled in as it trained, :func:`as_recorded`, so a
    knob added later does not make earlier runs look new; where the data lives left out), the Keras backend, the
    version of the model's definition and the data's checksums. Two runs with the same identity end the same way,
    so a sweep skips a run whose identity is done, and run ids carry its first eight digits.
    """
    if notebook_called(notebook).trains:
        from .models import model_spec
        values = {name: value for name, value in as_recorded(parameters).items() if name not in NOT_IDENTITY}
        try:
            version = model_spec(values["model"]).version if model_version is None else model_version
        except ValueError:
            version = model_version
        content = {"notebook": notebook, "parameters": values, "backend": backend or configured_backend(),
                   "model_version": version, "data_sha256": IDX_FILES}
    else:
        content = {"notebook": notebook, "parameters": dict(parameters)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def backend_of(run: Run) -> str:
    """The Keras backend a run trained with: what run.json or metrics.json recorded; runs made before either
    recorded it trained with TensorFlow (:data:`digitlib.backends.EARLIER_RUNS_BACKEND`)."""
    return run.backend or (run.metrics or {}).get("reproducibility", {}).get("backend") or EARLIER_RUNS_BACKEND


def identity_of(run: Run) -> str:
    """The identity of a run read back (:func:`read_run`): what it recorded, older runs' defaults otherwise
    (they all trained with TensorFlow, on the first version of each model)."""
    return run_identity(run.parameters, notebook=run.notebook_name, backend=backend_of(run),
                        model_version=1 if run.model_version is None else run.model_version)


def skip_warning(run_dir: Path, problem: Exception) -> None:
    warnings.warn(f"skipping {run_dir}: {problem}", RunDirectoryWarning, stacklevel=2)


def process_alive(pid: int | None) -> bool:
    """Whether process `pid` still runs on this machine (a run marked running may have been killed)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return isinstance(pid, int) and pid > 0
    return True


@dataclass(frozen=True)
class Run:
    """A run folder read back (:func:`read_run`): its run.json, validated, and its metrics.json (None until the
    run finished), both data as written. A field run.json does not hold (an earlier version wrote fewer) is None."""

    run_id: str  # the folder's name, whatever the file says
    directory: Path
    notebook_name: str  # the notebook it ran (runs made before it was recorded trained)
    status: str  # running, rendering, succeeded, failed, interrupted, timed out
    parameters: dict[str, Any]
    started: str
    metrics: dict[str, Any] | None = None
    finished: str | None = None
    error: str | None = None
    pid: int | None = None
    wall_seconds: float | None = None
    resumed: Any = None
    backend: str | None = None
    model_version: int | None = None
    identity: str | None = None
    notebook: str | None = None  # the notebook file it ran, as recorded

    @property
    def contract(self) -> Notebook:
        """The notebook's record: what it takes, whether it trains."""
        return notebook_called(self.notebook_name)

    @property
    def test_accuracy(self) -> float | None:
        return (self.metrics or {}).get("test", {}).get("accuracy")


_RECORDED = {field.name for field in fields(Run)} - {"run_id", "directory", "metrics"}


def read_run(run_dir: str | os.PathLike) -> Run:
    """A run's record joined with its metrics (None before it finished); a run marked running whose process is
    gone is reported interrupted. Raises :class:`InvalidRun`."""
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    if record["status"] in ("running", "rendering") and not process_alive(record.get("pid")):
        stage = "while rendering its report" if record["status"] == "rendering" else "without finishing"
        record["status"], record["error"] = "interrupted", f"its process ended {stage} (killed?)"
    return Run(run_id=record["run_id"], directory=run_dir, metrics=read_metrics(run_dir),
               **{name: record.get(name) for name in _RECORDED})


def read_runs(reports_dir: str | os.PathLike) -> list[Run]:
    """Every valid run in `reports_dir`, newest first; folders that do not validate are skipped with a warning."""
    runs = []
    for record_path in Path(reports_dir).glob(f"*/{RUN_FILE}"):
        run_dir = record_path.parent
        if run_dir.is_symlink():
            continue  # reports/latest and reports/best are links to runs, not runs of their own
        if kept_for(run_dir.name):
            skip_warning(run_dir, InvalidRun(f"this name is kept for the reports folder's {kept_for(run_dir.name)}"))
            continue
        if not RUN_ID.fullmatch(run_dir.name):
            skip_warning(run_dir, InvalidRun("its name is not a run id"))
            continue
        try:
            runs.append(read_run(run_dir))
        except InvalidRun as problem:
            skip_warning(run_dir, problem)
    return sorted(runs, key=lambda run: (run.started, run.run_id), reverse=True)


class NoFinishedModel(LookupError):
    """No run in the reports folder has a model to read with by default; the message says why."""


@dataclass(frozen=True)
class FinishedModel:
    """A succeeded training run's saved model, with what ranks it against the others (:func:`best_model`)."""

    run_dir: Path
    model: str  # its name in the model registry, which places it on digitlib.models.LADDER
    label: str  # the model in a few words: 'strong', 'ensemble of 3'
    validation_accuracy: float | None  # the saved weights' (the last epoch's); None: no validation split
    started: str

    @property
    def path(self) -> Path:
        return self.run_dir / MODEL_FILE

    @property
    def rank(self) -> tuple:
        """Higher is better: the model's rung on the ladder, then having a validation accuracy, then its value,
        then the newer run."""
        accuracy = self.validation_accuracy
        return capability(self.model), accuracy is not None, accuracy or 0.0, self.started, self.run_dir.name

    def __str__(self) -> str:
        accuracy = self.validation_accuracy
        scored = "no validation accuracy (it trained without a validation split)" if accuracy is None else \
            f"validation accuracy {accuracy:.2%}"
        return f"{self.label}, run {self.run_dir.name}, {scored}"


def validation_accuracy(metrics: Mapping[str, Any] | None) -> float | None:
    """The saved model's validation accuracy: the last epoch's ``val_accuracy`` in metrics.json's history (an
    ensemble's: its members' mean); None when the run held no validation split. Raises :class:`InvalidRun`
    for a value that is not an accuracy."""
    values = ((metrics or {}).get("training", {}).get("history", {}).get("val_accuracy")) or []
    if not values:
        return None
    value = values[-1]
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
        raise InvalidRun(f"{METRICS_FILE}: its last val_accuracy, {str(value)[:20]}, is not between 0 and 1")
    return float(value)


def quick_try(parameters: Mapping[str, Any]) -> bool:
    """Whether a training run's parameters use only part of the training set (``train_limit``): a quick try, never
    the model `digitlib predict` reads with by default, and marked so in the index."""
    return as_recorded(parameters)["train_limit"] is not None


def _finished_model(run_dir: Path, run: Run) -> FinishedModel | str:
    """The run's model if it may be the default one, else why not (a few words). Raises :class:`InvalidRun`."""
    parameters = as_recorded(run.parameters)
    metrics = run.metrics
    if metrics is not None and any(metrics["parameters"].get(name) != parameters[name]
                                   for name in ("model", "train_limit")):
        raise InvalidRun(f"{METRICS_FILE} and {RUN_FILE} name different models or training sets")
    if quick_try(parameters):
        return "trained on part of the training set (train_limit)"
    model = run_dir / MODEL_FILE
    if model.is_symlink() or not model.is_file():
        return f"without a {MODEL_FILE} of its own"
    return FinishedModel(run_dir=run_dir, model=parameters["model"], label=model_label(parameters),
                         validation_accuracy=validation_accuracy(metrics), started=run.started)


def best_model(reports_dir: str | os.PathLike, runs: list[Run] | None = None) -> FinishedModel:
    """The model `digitlib predict` reads with by default: among the succeeded training runs in `reports_dir`
    that trained on the whole training set (``train_limit`` None) and have their model.keras, the most capable
    model (:data:`digitlib.models.LADDER`: a stronger model beats any validation accuracy of a weaker one), then
    the highest validation accuracy (never the test set's: that would choose by the test), runs without a
    validation split after those with one, then the newest.

    `runs`: the runs of `reports_dir` already read (:func:`read_runs`). Runs whose files do not validate are
    skipped with a warning. Raises :class:`NoFinishedModel` saying why none qualified.
    """
    reports_dir = Path(reports_dir)
    trained = [run for run in (read_runs(reports_dir) if runs is None else runs)
               if run.contract.trains and run.status == "succeeded"]
    candidates, excluded = [], {}
    for run in trained:
        run_dir = reports_dir / run.run_id
        try:
            found = _finished_model(run_dir, run)
        except InvalidRun as problem:
            skip_warning(run_dir, problem)
            found = "whose files do not validate"
        if isinstance(found, FinishedModel):
            candidates.append(found)
        else:
            excluded[found] = excluded.get(found, 0) + 1
    if candidates:
        return max(candidates, key=lambda candidate: candidate.rank)
    if not trained:
        raise NoFinishedModel(f"no finished training run in {reports_dir}")
    reasons = ", ".join(f"{count} {why}" for why, count in sorted(excluded.items(), key=lambda item: -item[1]))
    raise NoFinishedModel(f"no finished model to read with in {reports_dir}: of its {len(trained)} finished "
                          f"training run{'s' if len(trained) != 1 else ''}, {reasons}")
