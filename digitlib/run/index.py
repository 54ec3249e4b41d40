"""reports/index.html: one row per run, and the reports/latest and reports/best links, rebuilt from the run
directories themselves.

Rebuilding from what is on disk (under a file lock) means the index can never
drift from the runs, and concurrent runs can never drop each other's rows.
Whatever else sits where the page, a link or the lock goes (a user's folder, a file,
a FIFO) is left alone and named, with what to move (:class:`InTheWay`).
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import replace_symlink, write_atomic
from ..layout import BEST, INDEX_FILE, KEPT, LATEST, LOCK_FILE, REPORT_FILE
from ..rundir import (
    FinishedModel,
    NoFinishedModel,
    Run,
    best_model,
    kind_of,
    read_runs,
)
from ..untrusted import valid_unicode
from .pages import CONTENT_SECURITY_POLICY, TEMPLATES


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


def _row(run: Run, best: FinishedModel | None = None) -> dict[str, Any]:
    """One run as the index shows it: plain strings, escaped by the template, and whether it is the best model."""
    metrics = run.metrics or {}
    test, training = metrics.get("test", {}), metrics.get("training", {})
    return {
        "started": run.started[:19].replace("T", " "),
        "run_id": run.run_id,
        "model": str(run.parameters.get("model", "—")),
        "epochs": str(training.get("epochs", run.parameters.get("epochs", "—"))),
        "accuracy": f"{test['accuracy']:.2%}" if "accuracy" in test else "—",
        "seconds": f"{training['train_seconds']:.0f} s" if "train_seconds" in training else "—",
        "status": run.status,
        "error": run.error or "",
        "best": best is not None and run.run_id == best.run_dir.name,
    }


def render_index(runs: list[Run], best: FinishedModel | NoFinishedModel | None = None) -> str:
    """The index page of `runs` (newest first), from templates/index.html.j2 with autoescaping; `best`: the
    model `digitlib predict` reads with (:func:`digitlib.rundir.best_model`), or why there is none."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    chosen = best if isinstance(best, FinishedModel) else None
    return environment.get_template("index.html.j2").render(
        runs=[_row(run, chosen) for run in runs], latest=LATEST, best_link=BEST, report_file=REPORT_FILE,
        best=str(chosen) if chosen else None, no_best=str(best) if isinstance(best, NoFinishedModel) else None,
        content_security_policy=CONTENT_SECURITY_POLICY)


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


def write_index(reports_dir: Path, latest: Path | None = None) -> Path:
    """Rebuild reports/index.html and the reports/best link from the run directories, atomically, pointing
    reports/latest at `latest` first when given (hold :func:`locked` while calling it).

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
    best = point_best(reports_dir, runs, link=BEST not in skip)
    page = reports_dir / INDEX_FILE
    if INDEX_FILE not in skip:
        write_atomic(page, valid_unicode(render_index(runs, best)))
    if blocked:
        raise InTheWay(reports_dir, blocked)
    return page
