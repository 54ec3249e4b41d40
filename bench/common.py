"""Shared bench plumbing: the machine, medians, and writing a result as markdown and JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitlib.provenance import cpu_name, package_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


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
    lines = [f"# {title}", "", f"Machine: {info['cpu']}, {info['cores']} cores; "
             + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + f"; {when}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    markdown = results / f"{name}.md"
    markdown.write_text("\n".join(lines) + "\n")
    (results / f"{name}.json").write_text(json.dumps({"machine": info, "date": when, **data}, indent=2) + "\n")
    print("\n".join(lines))
    return markdown
