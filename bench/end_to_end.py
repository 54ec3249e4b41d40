"""End to end: the wall time of `digitlib report` with defaults, split into its phases.

Phases come from the executed notebook's papermill timestamps: start-up (CLI, kernel, imports,
seeding), data loading, preparation, training, evaluation and figures, saving, and rendering plus
indexing after the last cell.

    python bench/end_to_end.py [--runs 1] [-- extra digitlib report arguments]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import median, write_result

PHASES = [  # (phase, text that opens the first cell of the phase)
    ("start-up (kernel, imports, seeding)", "%matplotlib inline"),
    ("data loading", "digitlib.load_mnist("),
    ("preparation and model building", "digitlib.prepare_splits("),
    ("training", "digitlib.train_network("),
    ("evaluation and figures", "digitlib.evaluate_model("),
    ("provenance and saving", "digitlib.describe_environment("),
]


def phase_seconds(notebook: dict, started: float, finished: float) -> dict[str, float]:
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code" and "papermill" in c["metadata"]]
    stamps = [(datetime.fromisoformat(c["metadata"]["papermill"]["start_time"]).timestamp(),
               datetime.fromisoformat(c["metadata"]["papermill"]["end_time"]).timestamp(), "".join(c["source"]))
              for c in cells]
    boundaries = []
    for phase, opener in PHASES:
        first = next(start for start, _, source in stamps if opener in source)
        boundaries.append((phase, first))
    boundaries[0] = (boundaries[0][0], started)  # start-up counts from the command's start
    ends = [b for _, b in boundaries[1:]] + [stamps[-1][1]]
    seconds = {phase: end - begin for (phase, begin), end in zip(boundaries, ends)}
    seconds["rendering and index"] = finished - stamps[-1][1]
    return seconds


# The report's budgets (issue #13): evaluation and every figure after training, and the page's size.
EVALUATION_BUDGET_SECONDS = 20.0
HTML_BUDGET_BYTES = 1_500_000


def evaluation_cells(notebook: dict) -> dict[str, float]:
    """Seconds per code cell of the evaluation phase, named by its first line."""
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code" and "papermill" in c["metadata"]]
    first = next(k for k, c in enumerate(cells) if "digitlib.evaluate_model(" in "".join(c["source"]))
    last = next(k for k, c in enumerate(cells) if "digitlib.describe_environment(" in "".join(c["source"]))
    return {"".join(c["source"]).splitlines()[0][:70]: c["metadata"]["papermill"]["duration"]
            for c in cells[first:last]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="more arguments for digitlib report")
    arguments = parser.parse_args()
    runs = []
    for _ in range(arguments.runs):
        with tempfile.TemporaryDirectory() as reports:
            started = time.time()
            subprocess.run([sys.executable, "-m", "digitlib", "report", "--reports-dir", reports, *arguments.extra],
                           check=True, stdout=subprocess.DEVNULL)
            finished = time.time()
            run_dir = next(p for p in Path(reports).iterdir() if p.is_dir() and not p.is_symlink())
            notebook = json.loads((run_dir / "notebook.ipynb").read_text())
            metrics = json.loads((run_dir / "metrics.json").read_text())
            runs.append({"wall_seconds": finished - started, "phases": phase_seconds(notebook, started, finished),
                         "evaluation_cells": evaluation_cells(notebook),
                         "test_accuracy": metrics["test"]["accuracy"], "model": metrics["model"],
                         "calibration": metrics.get("calibration"), "robustness": metrics.get("robustness"),
                         "html_bytes": (run_dir / "report.html").stat().st_size})
            print(f"  run: {runs[-1]['wall_seconds']:.1f} s wall, test accuracy {runs[-1]['test_accuracy']:.2%}",
                  flush=True)
    phases = list(runs[0]["phases"])
    rows = [[phase, f"{median([r['phases'][phase] for r in runs]):.1f}"] for phase in phases]
    rows.append(["**total wall time**", f"**{median([r['wall_seconds'] for r in runs]):.1f}**"])
    evaluation = median([r["phases"]["evaluation and figures"] for r in runs])
    html = median([r["html_bytes"] for r in runs])
    cells = "\n".join(f"| `{cell}` | {median([r['evaluation_cells'][cell] for r in runs]):.2f} |"
                       for cell in runs[0]["evaluation_cells"])
    verdict = lambda ok: "within budget" if ok else "OVER budget"  # noqa: E731
    write_result(
        "end_to_end", f"`digitlib report` with defaults ({runs[0]['model']}), medians of {len(runs)} run(s), seconds",
        ["phase", "seconds"], rows, {"runs": runs},
        notes=f"Test accuracy {median([r['test_accuracy'] for r in runs]):.2%}.\n\n"
              f"Budgets: evaluation and figures {evaluation:.1f} s of {EVALUATION_BUDGET_SECONDS:.0f} s "
              f"({verdict(evaluation <= EVALUATION_BUDGET_SECONDS)}); report.html {html / 1e6:.2f} MB of "
              f"{HTML_BUDGET_BYTES / 1e6:.1f} MB ({verdict(html <= HTML_BUDGET_BYTES)}).\n\n"
              "Evaluation and figures, by notebook cell (medians, seconds; papermill's cell durations):\n\n"
              "| cell | seconds |\n|---|---|\n" + cells,
    )


if __name__ == "__main__":
    main()
