"""Shared bench plumbing: the machine, medians, and writing a result as markdown and JSON."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitlib.train.provenance import cpu_name, package_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def commit() -> str:
    """The checkout's commit, with '+changes' when its tracked files differ from it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"]).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "versions": {k: v for k, v in package_versions().items()
                         if k in ("python", "tensorflow", "jax", "jaxlib", "keras", "numpy")}}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def write_result(name: str, title: str, header: list[str], rows: list[list], data: dict, notes: str = "",
                 results: Path = RESULTS) -> Path:
    """bench/results/NAME.md (a table with the machine) and NAME.json (every raw measurement); `results`
    names another folder (a GPU machine writes where its files come back from)."""
    results.mkdir(parents=True, exist_ok=True)
    info = machine()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    command, revision = shlex.join(["python", os.path.relpath(sys.argv[0]), *sys.argv[1:]]), commit()  # as typed
    lines = [f"# {title}", "", f"Machine: {info['cpu']}, {info['cores']} cores; "
             + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + f"; {when}", "",
             f"Commit {revision}; command `{command}`", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    markdown = results / f"{name}.md"
    markdown.write_text("\n".join(lines) + "\n")
    record = {"machine": info, "date": when, "commit": revision, "command": command, **data}
    (results / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print("\n".join(lines))
    return markdown
