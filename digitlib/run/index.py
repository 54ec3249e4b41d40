"""reports/index.html: one row per run, and the reports/latest and reports/best links, rebuilt from the run
directories themselves.

Rebuilding from what is on disk (under a file lock) means the index can never
drift from the runs, and concurrent runs can never drop each other's rows.
Whatever else sits where the page, a link or the lock goes (a user's folder, a file,
a FIFO) is left alone and named, with what to move (:class:`InTheWay`).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..atomic import replace_symlink, write_atomic
from ..intervals import accuracy_interval
from ..layout import (
    BEST,
    COMPARISON_LINK,
    INDEX_FILE,
    KEPT,
    LATEST,
    LOCK_FILE,
    MODEL_FILE,
    REPORT_FILE,
    SWEEP_FILE,
    SWEEP_PREFIX,
)
from ..params import REGISTRY, ParameterError, model_label, shown_value, validate_recorded
from ..rundir import (
    MAX_JSON_BYTES,
    RUN_ID,
    FinishedModel,
    InvalidRun,
    NoFinishedModel,
    Run,
    backend_of,
    best_model,
    kind_of,
    quick_try,
    read_run_file,
    read_runs,
    skip_warning,
)
from ..untrusted import valid_unicode
from .pages import TEMPLATES, index_script


class InTheWay(OSError):
    """Something digitlib did not make (a folder, a file, a FIFO) sits where the reports folder keeps its index page,
    a link or its lock: it is left alone, and the message (one line) names it and says what to move."""

    def __init__(self, reports_dir: Path, blocked: list[tuple[str, str]]):
        things = "; ".join(f"{Path(reports_dir) / name} is {kind_of(Path(reports_dir) / name)}, not the {what} "
                           "digitlib keeps there" for name, what in blocked)
        them = "it" if len(blocked) == 1 else "them"
        super().__init__(f"{things}: move {them} out of the reports folder; the next run then rebuilds the index "
                         "and its links")


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on reports/.lock while the shared files are rewritten. The lock is a regular file:
    opening a FIFO there would wait for a reader forever (it is opened without waiting, and checked)."""
    path = Path(reports_dir) / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError:
        if os.path.lexists(path) and not path.is_file():  # a FIFO with no reader (ENXIO), a folder (EISDIR)
            raise InTheWay(reports_dir, [(LOCK_FILE, "lock file")]) from None
        raise
    with os.fdopen(descriptor, "a") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise InTheWay(reports_dir, [(LOCK_FILE, "lock file")])
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def in_the_way(reports_dir: Path) -> list[tuple[str, str]]:
    """What blocks the index page or a link, as (name, what digitlib keeps there): a folder at index.html (a file
    there is the old page, replaced), anything but a link at latest or best."""
    blocked = []
    for name, what in KEPT.items():
        path = Path(reports_dir) / name
        replaced = path.is_symlink() or (name == INDEX_FILE and not path.is_dir())  # a rename replaces these
        if os.path.lexists(path) and not replaced:
            blocked.append((name, what))
    return blocked


@dataclass(frozen=True)
class Sweep:
    """A sweep's folder, reports/sweep-NAME/, as the index shows it: read from its sweep.json, untrusted."""

    name: str  # the folder's name without the prefix
    href: str | None  # its comparison's page, relative to the reports folder; None: none to link
    run_ids: tuple[str, ...]  # its runs (those that made a folder), and its comparison run
    comparison_run: str | None
    succeeded: int
    total: int


def _links_a_comparison(folder: Path) -> bool:
    """Whether FOLDER/comparison.html is the link a sweep makes: to ../RUN_ID/report.html, a run of the same reports
    folder (a link planted elsewhere, to a file outside it, is not offered)."""
    try:
        target = os.readlink(folder / COMPARISON_LINK)
    except OSError:  # none there, or not a link
        return False
    parent, _, rest = target.partition("/")
    run_id, _, page = rest.partition("/")
    return parent == ".." and bool(RUN_ID.fullmatch(run_id)) and page == REPORT_FILE


def read_sweeps(reports_dir: Path) -> list[Sweep]:
    """Each sweep folder of `reports_dir`, read defensively: a link, a file or junk named sweep-* is no sweep, a
    sweep.json that is not a regular file or not the shape digitlib writes is skipped with a warning."""
    sweeps = []
    for folder in sorted(Path(reports_dir).glob(f"{SWEEP_PREFIX}*")):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            record = json.loads(read_run_file(folder / SWEEP_FILE, MAX_JSON_BYTES).decode("utf-8"))
        except (InvalidRun, UnicodeDecodeError, ValueError, RecursionError) as problem:
            skip_warning(folder, problem if isinstance(problem, InvalidRun) else
                         InvalidRun(f"{SWEEP_FILE} is unreadable ({type(problem).__name__})"))
            continue
        outcomes = record.get("runs") if isinstance(record, dict) else None
        if not isinstance(outcomes, list) or not all(isinstance(outcome, dict) for outcome in outcomes):
            skip_warning(folder, InvalidRun(f"{SWEEP_FILE} is not a sweep's record (no list of runs)"))
            continue
        comparison = record.get("comparison_run")
        comparison = comparison if isinstance(comparison, str) and RUN_ID.fullmatch(comparison) else None
        run_ids = [outcome["run_id"] for outcome in outcomes
                   if isinstance(outcome.get("run_id"), str) and RUN_ID.fullmatch(outcome["run_id"])]
        href = (f"{quote(os.fsencode(folder.name))}/{COMPARISON_LINK}" if _links_a_comparison(folder)
                else f"{comparison}/{REPORT_FILE}" if comparison and (Path(reports_dir) / comparison).is_dir()
                else None)
        succeeded = sum("succeeded" in (outcome.get("status"), outcome.get("earlier")) for outcome in outcomes)
        sweeps.append(Sweep(name=folder.name[len(SWEEP_PREFIX):], href=href, comparison_run=comparison,
                            run_ids=tuple(run_ids + ([comparison] if comparison else [])),
                            succeeded=succeeded, total=len(outcomes)))
    return sweeps


# Parameters the index shows in columns of their own (the model with an ensemble's members, its seed, epochs, and
# the training images that train_limit chose); the others get a column only where the listed runs differ.
SHOWN_PARAMETERS = ("model", "members", "seed", "epochs", "train_limit")


def _parameters(run: Run) -> dict[str, Any]:
    """The run's parameters with what it did not record filled in as it ran (read_run validated them already)."""
    try:
        return validate_recorded(run.notebook_name, run.parameters)
    except ParameterError:
        return dict(run.parameters)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def split_parameters(parameters: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The parameters whose values differ among the runs that take them (in the notebooks' order), and those the same
    in every run that takes them, with that value as shown; the columns of their own left out of both."""
    names = dict.fromkeys(p.name for notebook in REGISTRY.values() for p in notebook.parameters
                          if p.name not in SHOWN_PARAMETERS)
    varying, same = [], {}
    for name in names:
        values = {_key(each[name]): each[name] for each in parameters if name in each}
        if len(values) > 1:
            varying.append(name)
        elif values:
            same[name] = shown_value(next(iter(values.values())))
    return varying, same


def _cell(parameters: dict[str, Any], name: str) -> dict[str, Any]:
    """A parameter's cell: its value as text (blank where the run's notebook has no such parameter), and as a number
    to sort by where it is one; `numeric`: a number or None (sorted last), so that its column may sort as numbers."""
    if name not in parameters:
        return {"text": "", "value": "", "numeric": True}
    value = parameters[name]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {"text": shown_value(value), "value": repr(value) if number else "", "numeric": number or value is None}


def _row(run: Run, parameters: dict[str, Any], varying: list[str], marks: dict[str, list[str]],
         sweeps: dict[str, list[Sweep]]) -> dict[str, Any]:
    """One run as the index shows it: plain strings, escaped by the template; numbers to sort by as data values."""
    metrics = run.metrics or {}
    test, training = metrics.get("test", {}), metrics.get("training", {})
    trains = run.contract.trains
    row: dict[str, Any] = {
        "started": run.started[:19].replace("T", " "),
        "run_id": run.run_id,
        "kind": run.contract.kind,
        "model": model_label(parameters) if trains and "model" in parameters else "",
        "backend": backend_of(run) if trains else run.backend or "",
        "seed": str(parameters.get("seed", "")) if trains else "",
        "epochs": str(training.get("epochs", parameters.get("epochs") or "")) if trains else "",
        "images": "", "images_value": "", "quick": trains and quick_try(parameters),
        "accuracy": f"{test['accuracy']:.2%}" if "accuracy" in test else ("—" if trains else ""),
        "accuracy_value": repr(test["accuracy"]) if "accuracy" in test else "",
        "interval": "", "test_images": test.get("images"),
        "seconds": f"{training['train_seconds']:.0f} s" if "train_seconds" in training else ("—" if trains else ""),
        "seconds_value": repr(training["train_seconds"]) if "train_seconds" in training else "",
        "device": "", "device_name": "",
        "status": run.status,
        "error": run.error or "",
        "marks": marks.get(run.run_id, []),
        "sweeps": sweeps.get(run.run_id, []),
        "parameters": [_cell(parameters, name) for name in varying],
    }
    images = training.get("train_images") or (parameters.get("train_limit") if row["quick"] else None)
    if images:
        row["images"], row["images_value"] = f"{images:,}", str(images)
    if {"images", "mistakes"} <= test.keys() and test["mistakes"] <= test["images"]:
        low, high = accuracy_interval(test["images"] - test["mistakes"], test["images"])
        row["interval"] = f"{100 * low:.2f}–{100 * high:.2f}%"
    device = metrics.get("environment", {}).get("device", {})
    if isinstance(device, dict):
        row["device"], row["device_name"] = str(device.get("type", "")), str(device.get("name", ""))
    return row


def _sweep_row(sweep: Sweep, started: str) -> dict[str, Any]:
    return {"name": sweep.name, "href": sweep.href, "started": started[:19].replace("T", " "),
            "status": f"{sweep.succeeded} of {sweep.total} runs succeeded"}


def _showable(runs: list[Run]) -> tuple[list[Run], list[dict[str, Any]]]:
    """The runs whose row the index can show, with their parameters (:func:`_parameters`): a run whose values read
    back valid yet fail to render (a number no format takes) is skipped with one warning, never the whole page."""
    shown = []
    for run in runs:
        parameters = _parameters(run)
        try:
            _row(run, parameters, [], {}, {})
        except (ValueError, OverflowError, TypeError) as problem:
            why = " ".join(str(problem).split())[:200]
            skip_warning(run.directory, InvalidRun(f"the index cannot show it ({type(problem).__name__}: {why})"))
            continue
        shown.append((run, parameters))
    return [run for run, _ in shown], [parameters for _, parameters in shown]


def render_index(runs: list[Run], best: FinishedModel | NoFinishedModel | None = None, *,
                 latest: str | None = None, sweeps: list[Sweep] = ()) -> str:
    """The index page of `runs` (newest first) and `sweeps`, from templates/index.html.j2 with autoescaping, with its
    script (sorting, filtering) inline under the page's own policy; `best`: the model `digitlib predict` reads with
    (:func:`digitlib.rundir.best_model`), or why there is none; `latest`: the run reports/latest names. A run whose
    row cannot be rendered is left out with a warning (:func:`_showable`)."""
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    chosen = best if isinstance(best, FinishedModel) else None
    marks: dict[str, list[str]] = {}
    if chosen:
        marks.setdefault(chosen.run_dir.name, []).append("best")
    if latest:
        marks.setdefault(latest, []).append("latest")
    in_sweep: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        for run_id in sweep.run_ids:
            in_sweep.setdefault(run_id, []).append(sweep)
    runs, parameters = _showable(runs)
    varying, same = split_parameters(parameters)
    started = {run.run_id: (run.started, run.run_id) for run in runs}
    rows = [((run.started, run.run_id, 0), "run", _row(run, values, varying, marks, in_sweep))
            for run, values in zip(runs, parameters)]
    rows += [((*started.get(sweep.comparison_run, ("", sweep.name)), 1), "sweep",
              _sweep_row(sweep, started.get(sweep.comparison_run, ("",))[0])) for sweep in sweeps]
    rows.sort(key=lambda item: item[0], reverse=True)  # newest first; a sweep just above its comparison
    columns = [(name, "number" if all(row["parameters"][at]["numeric"] for _, kind, row in rows if kind == "run")
                else "text") for at, name in enumerate(varying)]
    script, policy = index_script()
    return environment.get_template("index.html.j2").render(
        rows=[(kind, row) for _, kind, row in rows], run_count=len(runs), sweep_count=len(sweeps),
        varying=columns, same=same, latest=LATEST, best_link=BEST, report_file=REPORT_FILE,
        best=str(chosen) if chosen else None, no_best=str(best) if isinstance(best, NoFinishedModel) else None,
        content_security_policy=policy, script=Markup(script))  # ours, checked by index_script


def point_best(reports_dir: Path, runs: list[Run], *, link: bool = True) -> FinishedModel | NoFinishedModel:
    """Point reports/best at the best finished model among `runs` (in one rename), or remove the link when
    none qualifies (a deleted or outranked run is never left linked); the model, or why there is none.
    `link` False: only find it (something else sits where the link goes)."""
    path = Path(reports_dir) / BEST
    try:
        best = best_model(reports_dir, runs)
    except NoFinishedModel as none:
        if link and path.is_symlink():
            path.unlink()
        return none
    if link:
        replace_symlink(path, best.run_dir.name)
    return best


def repair_latest(reports_dir: Path, runs: list[Run]) -> None:
    """reports/latest names a run that is gone (deleted, or its files no longer validate): point it at the
    newest succeeded training run that has its model, or remove it when there is none, so that it never
    dangles. A link to a run still there is left as it is (a resumed older run may be the latest)."""
    link = Path(reports_dir) / LATEST
    if not link.is_symlink() or os.readlink(link) in {run.run_id for run in runs}:
        return
    finished = [run for run in runs if run.contract.trains and run.status == "succeeded"
                and (run.directory / MODEL_FILE).is_file()]
    newest = max(finished, key=lambda run: (run.finished or run.started, run.run_id), default=None)
    if newest is None:
        link.unlink()
    else:
        replace_symlink(link, newest.run_id)


def write_index(reports_dir: Path, latest: Path | None = None) -> Path:
    """Rebuild reports/index.html and the reports/best link from the run directories, atomically, pointing
    reports/latest at `latest` first when given, else mending it if its run is gone (:func:`repair_latest`;
    hold :func:`locked` while calling it).

    What something of the user's blocks (:func:`in_the_way`) is left alone, the rest written; then
    :class:`InTheWay` names it. A name's bytes that are not UTF-8 (the reports folder's, shown where no model
    is the best) are shown escaped, as \\xe9: the page is UTF-8.
    """
    reports_dir = Path(reports_dir)
    blocked = in_the_way(reports_dir)
    skip = {name for name, _ in blocked}
    if latest is not None and LATEST not in skip:
        replace_symlink(reports_dir / LATEST, latest.name)
    runs = read_runs(reports_dir)
    if latest is None and LATEST not in skip:
        repair_latest(reports_dir, runs)
    best = point_best(reports_dir, runs, link=BEST not in skip)
    page = reports_dir / INDEX_FILE
    if INDEX_FILE not in skip:
        link = reports_dir / LATEST
        named = os.readlink(link) if link.is_symlink() else None
        write_atomic(page, valid_unicode(render_index(runs, best, latest=named, sweeps=read_sweeps(reports_dir))))
    if blocked:
        raise InTheWay(reports_dir, blocked)
    return page
