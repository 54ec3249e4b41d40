"""reports/index.html: one row per run, and the reports/best link, rebuilt from the run directories themselves.

Rebuilding from what is on disk (under a file lock) means the index can never
drift from the runs, and concurrent runs can never drop each other's rows.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .atomic import replace_symlink, write_atomic
from .pages import CONTENT_SECURITY_POLICY, TEMPLATES
from .rundir import BEST, INDEX_FILE, LATEST, REPORT_FILE, FinishedModel, NoFinishedModel, best_model, read_runs


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on reports/.lock while the shared files are rewritten."""
    with open(Path(reports_dir) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _row(run: dict[str, Any], best: FinishedModel | None = None) -> dict[str, Any]:
    """One run as the index shows it: plain strings, escaped by the template, and whether it is the best model."""
    metrics = run.get("metrics") or {}
    parameters = run.get("parameters", {})
    test, training = metrics.get("test", {}), metrics.get("training", {})
    return {
        "started": run.get("started", "")[:19].replace("T", " "),
        "run_id": run["run_id"],
        "model": str(parameters.get("model", "—")),
        "epochs": str(training.get("epochs", parameters.get("epochs", "—"))),
        "accuracy": f"{test['accuracy']:.2%}" if "accuracy" in test else "—",
        "seconds": f"{training['train_seconds']:.0f} s" if "train_seconds" in training else "—",
        "status": run.get("status", "unknown"),
        "error": run.get("error") or "",
        "best": best is not None and run["run_id"] == best.run_dir.name,
    }


def render_index(runs: list[dict[str, Any]], best: FinishedModel | NoFinishedModel | None = None) -> str:
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


def point_best(reports_dir: Path, runs: list[dict[str, Any]]) -> FinishedModel | NoFinishedModel:
    """Point reports/best at the best finished model among `runs` (in one rename), or remove the link when
    none qualifies (a deleted or outranked run is never left linked); the model, or why there is none."""
    link = Path(reports_dir) / BEST
    try:
        best = best_model(reports_dir, runs)
    except NoFinishedModel as none:
        if link.is_symlink():
            link.unlink()
        return none
    replace_symlink(link, best.run_dir.name)
    return best


def write_index(reports_dir: Path) -> Path:
    """Rebuild reports/index.html and the reports/best link from the run directories, atomically (hold
    :func:`locked` while calling it)."""
    runs = read_runs(reports_dir)
    best = point_best(reports_dir, runs)
    return write_atomic(Path(reports_dir) / INDEX_FILE, render_index(runs, best))
