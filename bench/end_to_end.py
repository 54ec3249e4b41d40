"""End to end: the wall time of `digitlib report` with defaults, split into its phases.

Phases come from the executed notebook's papermill timestamps: start-up (CLI, kernel, imports,
seeding), data loading, preparation, training (the epochs' own time, train_seconds, and the rest of the
training cell), evaluation and figures, saving, and rendering plus indexing after the last cell. The
overhead is the wall time minus train_seconds. With --baseline, an earlier commit's code runs too, the two
alternating within this one invocation.

    python bench/end_to_end.py [--runs 1] [--baseline COMMIT] [--name NAME] [-- extra digitlib report arguments]

--name writes bench/results/NAME.md and .json instead of end_to_end's (the default report's table), for a side
measurement such as a short run (-- -p epochs 1) that checks one phase.
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


def one_run(source: Path, extra: list[str]) -> dict:
    """`digitlib report` of the code in `source` (a checkout) into a temporary reports folder, phase by phase."""
    import os

    environment = {**os.environ, "PYTHONPATH": str(source)}  # the kernel inherits it: it imports the same code
    with tempfile.TemporaryDirectory() as reports:
        started = time.time()
        subprocess.run([sys.executable, "-m", "digitlib", "report", "--reports-dir", reports, *extra],
                       check=True, stdout=subprocess.DEVNULL, env=environment, cwd=reports)
        finished = time.time()
        run_dir = next(p for p in Path(reports).iterdir() if p.is_dir() and not p.is_symlink())
        notebook = json.loads((run_dir / "notebook.ipynb").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        html_bytes = (run_dir / "report.html").stat().st_size
    phases = phase_seconds(notebook, started, finished)
    train_seconds = metrics["training"]["train_seconds"]
    training = phases.pop("training")  # the training cell: the epochs' own time, and what it costs around them
    phases = {**dict(list(phases.items())[:3]), "training: the epochs (train_seconds)": train_seconds,
              "training: the cell beyond its epochs": training - train_seconds, **dict(list(phases.items())[3:])}
    return {"wall_seconds": finished - started, "train_seconds": train_seconds,
            "overhead_seconds": finished - started - train_seconds, "phases": phases,
            "evaluation_cells": evaluation_cells(notebook), "test_accuracy": metrics["test"]["accuracy"],
            "model": metrics["model"], "git_commit": metrics.get("environment", {}).get("git_commit"),
            "html_bytes": html_bytes}


def checkout(commit: str, into: Path) -> Path:
    """A detached worktree of `commit` in `into` (removed by the caller)."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "--force", str(into), "--", commit],
                   check=True, capture_output=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--baseline", metavar="COMMIT",
                        help="also run COMMIT's code (a temporary git worktree), alternating with this checkout's")
    parser.add_argument("--name", default="end_to_end", help="the results' file name in bench/results/")
    parser.add_argument("extra", nargs="*", help="more arguments for digitlib report")
    arguments = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"this checkout": here}
        if arguments.baseline:
            sources = {f"baseline {arguments.baseline}": checkout(arguments.baseline, Path(scratch) / "baseline"),
                       **sources}
        runs: dict[str, list[dict]] = {name: [] for name in sources}
        try:
            for _ in range(arguments.runs):
                for name, source in sources.items():  # alternate, so a machine's drift hits both alike
                    runs[name].append(one_run(source, arguments.extra))
                    last = runs[name][-1]
                    print(f"  {name}: {last['wall_seconds']:.1f} s wall, {last['train_seconds']:.1f} s training, "
                          f"test accuracy {last['test_accuracy']:.2%}", flush=True)
        finally:
            if arguments.baseline:
                subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force",
                                str(Path(scratch) / "baseline")], capture_output=True)
    names = list(runs)
    phases = list(runs[names[-1]][0]["phases"])
    rows = [[phase, *(f"{median([r['phases'][phase] for r in runs[n]]):.1f}" for n in names)] for phase in phases]
    rows.append(["**overhead: wall time minus train_seconds**",
                 *(f"**{median([r['overhead_seconds'] for r in runs[n]]):.1f}**" for n in names)])
    rows.append(["**total wall time**", *(f"**{median([r['wall_seconds'] for r in runs[n]]):.1f}**" for n in names)])
    rows.append(["test accuracy", *(", ".join(f"{r['test_accuracy']:.2%}" for r in runs[n]) for n in names)])
    current = runs[names[-1]]
    evaluation = median([r["phases"]["evaluation and figures"] for r in current])
    cells = "\n".join(f"| `{cell}` | " + " | ".join(f"{median([r['evaluation_cells'][cell] for r in runs[n]]):.2f}"
                                                   for n in names) + " |"
                       for cell in current[0]["evaluation_cells"] if all(cell in r["evaluation_cells"]
                                                                          for n in names for r in runs[n]))
    write_result(
        arguments.name, f"`digitlib report {' '.join(arguments.extra)}` ({current[0]['model']}), phase by phase, "
                      f"medians of {arguments.runs} run(s) each, seconds",
        ["phase", *names], rows, {"runs": runs},
        notes=f"Overhead is everything outside the epochs' own time: kernel start and imports, data, the training "
              f"cell beyond its epochs, evaluation and figures, saving, rendering. Evaluation and figures: "
              f"{evaluation:.1f} s of the {EVALUATION_BUDGET_SECONDS:.0f} s budget; report.html "
              f"{median([r['html_bytes'] for r in current]) / 1e6:.2f} MB of {HTML_BUDGET_BYTES / 1e6:.1f} MB.\n\n"
              "Evaluation and figures, by notebook cell (medians, seconds; papermill's cell durations):\n\n"
              "| cell | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n" + cells,
    )


if __name__ == "__main__":
    main()
