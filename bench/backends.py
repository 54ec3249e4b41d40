"""TensorFlow and JAX side by side: seconds per epoch and test accuracy of the same runs.

Each (backend, seed) is one `digitlib report --backend B -p seed S --json`, exactly as a user runs it,
interleaved (TensorFlow seed 0, JAX seed 0, TensorFlow seed 1, ...) so that a machine that slows down
slows both alike. Seconds per epoch are the median of epochs 2..N (the first one compiles the step:
XLA for JAX, tf.function for TensorFlow); the first epoch is reported on its own.

    python bench/backends.py [--seeds 3] [-- extra digitlib report arguments, e.g. -p model strong]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import median, write_result

BACKENDS = ("tensorflow", "jax")


def one_run(backend: str, seed: int, extra: list[str], reports: Path) -> dict:
    command = [sys.executable, "-m", "digitlib", "report", "--json", "--backend", backend,
               "--reports-dir", str(reports), "-p", "seed", str(seed), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{backend} seed {seed} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = json.loads((Path(result["run_dir"]) / "metrics.json").read_text())
    seconds = metrics["training"]["epoch_seconds"]
    return {"backend": backend, "seed": seed, "run_id": result["run_id"], "epochs": len(seconds),
            "first_epoch_seconds": seconds[0], "seconds_per_epoch": median(seconds[1:] or seconds),
            "train_seconds": sum(seconds), "test_accuracy": metrics["test"]["accuracy"],
            "device": metrics["environment"]["device"], "versions": metrics["environment"]["versions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--name", default="backends", help="results file name in bench/results/")
    parser.add_argument("extra", nargs="*", help="more digitlib report arguments (after --)")
    arguments = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as reports:
        for seed in range(arguments.seeds):
            for backend in BACKENDS:
                run = one_run(backend, seed, arguments.extra, Path(reports))
                print(f"{backend} seed {seed}: {run['seconds_per_epoch']:.2f} s/epoch, "
                      f"test accuracy {run['test_accuracy']:.2%}", file=sys.stderr, flush=True)
                runs.append(run)
    rows, summary = [], {}
    for backend in BACKENDS:
        mine = [r for r in runs if r["backend"] == backend]
        accuracies = [r["test_accuracy"] for r in mine]
        summary[backend] = {"seconds_per_epoch": median([r["seconds_per_epoch"] for r in mine]),
                            "first_epoch_seconds": median([r["first_epoch_seconds"] for r in mine]),
                            "mean_test_accuracy": statistics.fmean(accuracies)}
        rows.append([backend, mine[0]["versions"].get(backend, "?"), f"{summary[backend]['first_epoch_seconds']:.1f}",
                     f"{summary[backend]['seconds_per_epoch']:.2f}",
                     " / ".join(f"{a:.2%}" for a in accuracies), f"{summary[backend]['mean_test_accuracy']:.3%}"])
    ratio = summary["jax"]["seconds_per_epoch"] / summary["tensorflow"]["seconds_per_epoch"]
    gap = 100 * (summary["jax"]["mean_test_accuracy"] - summary["tensorflow"]["mean_test_accuracy"])
    recipe = " ".join(arguments.extra) or "the default recipe (fast)"
    notes = (f"{recipe}; {arguments.seeds} seeds per backend, run interleaved in one invocation on "
             f"{runs[0]['device']['name']}. JAX/TensorFlow time per epoch: {ratio:.2f}x. Mean test accuracy, "
             f"JAX minus TensorFlow: {gap:+.3f} points (target: within 0.15).")
    write_result(arguments.name, "Keras backends side by side: TensorFlow vs JAX",
                 ["backend", "version", "first epoch (s)", "s/epoch (median, epochs 2..N)", "test accuracy by seed",
                  "mean"], rows, {"runs": runs, "summary": summary, "jax_over_tensorflow_time": ratio,
                                  "accuracy_gap_points": gap}, notes)


if __name__ == "__main__":
    main()
