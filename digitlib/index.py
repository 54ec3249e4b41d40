"""reports/index.html: one row per run, rebuilt from the run directories themselves.

Rebuilding from what is on disk (under a file lock) means the index can never
drift from the runs, and concurrent runs can never drop each other's rows.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .pages import CONTENT_SECURITY_POLICY, TEMPLATES
from .rundir import INDEX_FILE, LATEST, REPORT_FILE, read_runs


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on reports/.lock while the shared files are rewritten."""
    with open(Path(reports_dir) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _row(run: dict[str, Any]) -> dict[str, str]:
    """One run as the index shows it: plain strings, escaped by the template."""
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
    }


def render_index(runs: list[dict[str, Any]]) -> str:
    """The index page of `runs` (newest first), from templates/index.html.j2 with autoescaping."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.get_template("index.html.j2").render(
        runs=[_row(run) for run in runs], latest=LATEST, report_file=REPORT_FILE,
        content_security_policy=CONTENT_SECURITY_POLICY)


def write_index(reports_dir: Path) -> Path:
    """Rebuild reports/index.html from the run directories, atomically."""
    return write_atomic(Path(reports_dir) / INDEX_FILE, render_index(read_runs(reports_dir)))
