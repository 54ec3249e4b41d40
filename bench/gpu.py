"""The product on a GPU: the default report, the smoke sweep, two runs sharing the card, and `strong`.

Everything runs through the command line as a user runs it (`digitlib report --json`, `digitlib sweep`),
on the backend $KERAS_BACKEND names (JAX on our GPU machines). Figures per training run come from its
metrics.json: seconds per epoch (median of epochs 2..N; the first compiles), the training time until
validation accuracy first reached 99.0%, and test accuracy. The results are rewritten after every step,
so a machine taken back early still leaves what was measured.

    python bench/gpu.py [--results bench/results] [--reports DIR] [--skip-strong]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, median, write_result

THRESHOLD = 0.99
TOY: list[str] = []  # --toy: tiny runs, to rehearse the script on a CPU before spending GPU time


def digitlib(*arguments: str, reports: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digitlib", *arguments, "--reports-dir", str(reports)],
                          capture_output=True, text=True, check=False)


def training_figures(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record = json.loads((run_dir / "run.json").read_text())
    seconds, history = metrics["training"]["epoch_seconds"], metrics["training"]["history"]
    reached = next((i for i, a in enumerate(history.get("val_accuracy", [])) if a >= THRESHOLD), None)
    return {"run_id": run_dir.name, "model": metrics["parameters"]["model"], "epochs": len(seconds),
            "backend": metrics["environment"]["backend"], "device": metrics["environment"]["device"],
            "versions": metrics["environment"]["versions"], "first_epoch_seconds": seconds[0],
            "seconds_per_epoch": median(seconds[1:] or seconds), "train_seconds": sum(seconds),
            "seconds_to_99": sum(seconds[:reached + 1]) if reached is not None else None,
            "epochs_to_99": reached + 1 if reached is not None else None,
            "test_accuracy": metrics["test"]["accuracy"], "test": metrics["test"],
            "wall_seconds": record.get("wall_seconds"), "op_determinism": metrics["reproducibility"]["op_determinism"]}


def report(reports: Path, *parameters: str) -> dict:
    started = time.perf_counter()
    done = digitlib("report", "--json", *TOY, *parameters, reports=reports)
    printed = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    if done.returncode != 0:
        return {"status": printed.get("status", "failed"), "error": printed.get("error") or done.stderr[-1500:]}
    return {"status": "succeeded", "command_seconds": time.perf_counter() - started,
            **training_figures(Path(printed["run_dir"]))}


def concurrent_pair(reports: Path) -> dict:
    """Two default runs at once on the one card: both must fit (memory taken on demand) and, with the
    same seed, score exactly what the solo run scored."""
    command = [sys.executable, "-m", "digitlib", "report", "--json", *TOY, "--reports-dir", str(reports)]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    outputs = [process.communicate() for process in processes]
    runs = []
    for process, (stdout, stderr) in zip(processes, outputs):
        if process.returncode != 0:
            runs.append({"status": "failed", "error": stderr[-1500:]})
        else:
            runs.append({"status": "succeeded",
                         **training_figures(Path(json.loads(stdout.strip().splitlines()[-1])["run_dir"]))})
    return {"seconds": time.perf_counter() - started, "runs": runs}


def write(results: Path, measured: dict, name: str = "gpu") -> None:
    rows = []
    for label in ("fast", "strong"):
        run = measured.get(label)
        if not run:
            continue
        if run["status"] != "succeeded":
            rows.append([label, "—", "—", "—", "—", "—", run["status"]])
            continue
        to_99 = (f"{run['seconds_to_99']:.1f} s (epoch {run['epochs_to_99']})" if run["seconds_to_99"] is not None
                 else "not reached")
        rows.append([f"{run['model']} ({run['epochs']} epochs)", f"{run['device']['name']}",
                     f"{run['backend']} {run['versions'].get(run['backend'], '')}",
                     f"{run['first_epoch_seconds']:.1f}", f"{run['seconds_per_epoch']:.2f}", to_99,
                     f"{run['test_accuracy']:.2%} ({run['train_seconds']:.0f} s training, "
                     f"{run['wall_seconds']:.0f} s whole run)"])
    notes = []
    pair = measured.get("pair")
    if pair:
        solo = measured.get("fast", {}).get("test")
        same = [solo is not None and run.get("test") == solo for run in pair["runs"]]
        notes.append(f"Two default runs started at once on the same card: {[r['status'] for r in pair['runs']]} in "
                     f"{pair['seconds']:.0f} s; test metrics equal to the solo run's (same seed): {same}.")
    sweep = measured.get("sweep")
    if sweep:
        notes.append(f"Smoke sweep (sweeps/smoke.yaml): exit {sweep['exit']} in {sweep['seconds']:.0f} s; "
                     f"outcomes {sweep['outcomes']}.")
    write_result(name, "The product on a GPU", ["run", "device", "backend", "first epoch (s)",
                                                 "s/epoch (median, epochs 2..N)", "time to 99.0% validation accuracy",
                                                 "test accuracy"],
                 rows, measured, "\n\n".join(notes), results=results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--reports", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--skip-strong", action="store_true")
    parser.add_argument("--only", choices=("fast", "sweep", "pair", "strong"), help="run one step alone; results "
                        "go to gpu-STEP.md/.json")
    parser.add_argument("--toy", action="store_true", help="tiny runs (1,000 images, 2 epochs): a rehearsal")
    arguments = parser.parse_args()
    if arguments.toy:
        TOY.extend(["-p", "train_limit", "1000", "-p", "test_limit", "200", "-p", "epochs", "2"])
    reports = arguments.reports or Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    measured: dict = {}
    steps = [("fast", lambda: report(reports)),
             ("sweep", lambda: sweep_smoke(reports)),
             ("pair", lambda: concurrent_pair(reports / "pair")),
             ("strong", lambda: report(reports, "-p", "model", "strong"))]
    for label, step in steps:
        if (label == "strong" and arguments.skip_strong) or arguments.only not in (None, label):
            continue
        print(f"[gpu bench] {label} ...", file=sys.stderr, flush=True)
        measured[label] = step()
        print(f"[gpu bench] {label}: {json.dumps(measured[label])[:600]}", file=sys.stderr, flush=True)
        write(arguments.results, measured, f"gpu-{arguments.only}" if arguments.only else "gpu")


def sweep_smoke(reports: Path) -> dict:
    started = time.perf_counter()
    done = digitlib("sweep", str(Path(__file__).resolve().parent.parent / "sweeps" / "smoke.yaml"), "--json",
                    reports=reports / "sweep")
    try:
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        outcomes = [(run.get("status"), run.get("test_accuracy")) for run in outcome.get("runs", [])]
    except (IndexError, ValueError, AttributeError):
        outcomes = [done.stderr[-800:]]
    return {"exit": done.returncode, "seconds": time.perf_counter() - started, "outcomes": outcomes}


if __name__ == "__main__":
    main()
