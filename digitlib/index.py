"""reports/index.html: one row per run, rebuilt from the run directories themselves.

Rebuilding from what is on disk (under a file lock) means the index can never
drift from the runs, and concurrent runs can never drop each other's rows.
"""

from __future__ import annotations

import fcntl
import html
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .atomic import write_atomic
from .pages import CONTENT_SECURITY_POLICY
from .rundir import RUN_FILE, process_alive, read_runs  # noqa: F401 - the index's readers, re-exported


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on reports/.lock while the shared files are rewritten."""
    with open(Path(reports_dir) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _row(run: dict[str, Any]) -> str:
    metrics = run.get("metrics") or {}
    parameters = run.get("parameters", {})
    test, training = metrics.get("test", {}), metrics.get("training", {})
    accuracy = f"{test['accuracy']:.2%}" if "accuracy" in test else "—"
    seconds = f"{training['train_seconds']:.0f} s" if "train_seconds" in training else "—"
    status = run.get("status", "unknown")
    link = f"{run['run_id']}/report.html"
    cells = [
        html.escape(run.get("started", "")[:19].replace("T", " ")),
        f'<a href="{html.escape(link)}">{html.escape(run["run_id"])}</a>',
        html.escape(str(parameters.get("model", "—"))),
        html.escape(str(training.get("epochs", parameters.get("epochs", "—")))),
        accuracy,
        seconds,
        f'<span class="status {html.escape(status.replace(" ", "-"))}" title="{html.escape(run.get("error") or "")}">'
        f"{html.escape(status)}</span>",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_index(runs: list[dict[str, Any]]) -> str:
    rows = "\n".join(_row(run) for run in runs) or '<tr><td colspan="7">No runs yet.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>digit-recognizer runs</title>
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ padding: .4rem .7rem; border-bottom: 1px solid #d0d7de; text-align: left; }}
th {{ background: #f6f8fa; }}
.status.succeeded {{ color: #1a7f37; }} .status.running {{ color: #9a6700; }}
.status.failed, .status.interrupted, .status.timed-out {{ color: #cf222e; }}
</style></head>
<body><h1>digit-recognizer runs</h1>
<p>{len(runs)} run{'s' if len(runs) != 1 else ''}, newest first.
<a href="latest/report.html">Latest successful report</a>.</p>
<table><thead><tr><th>date</th><th>run</th><th>model</th><th>epochs</th><th>test accuracy</th>
<th>train time</th><th>status</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def write_index(reports_dir: Path) -> Path:
    """Rebuild reports/index.html from the run directories, atomically."""
    return write_atomic(Path(reports_dir) / "index.html", render_index(read_runs(reports_dir)))
