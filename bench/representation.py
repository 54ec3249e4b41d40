"""The report's "What it learned" cell (1,000 test images' features mapped by PCA and t-SNE) in a process that has
trained with Keras, as a report's kernel has, against a standalone t-SNE of the same features in a fresh process
without Keras; each with the OpenMP threads waiting as libgomp does by default (spinning a while) and as digitlib
sets it (OMP_WAIT_POLICY=PASSIVE), on quiet cores and with one core taken by another busy process. Every setting
is a process of its own (the OpenMP runtime reads the variable when it loads), run one after the other in one
invocation.

    python bench/representation.py [--repeats 3] [--train-limit 6000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import median, write_result

POLICIES = {"libgomp's default (before)": "", "PASSIVE (digitlib now)": "PASSIVE"}  # "": unset, as before
LOADS = ("quiet", "one core busy")

CHILD = """
import json, os, subprocess, sys, time
sys.path.insert(0, {root!r})
side, features_file, repeats, train_limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import numpy as np
from digitlib.report import representation

def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started

if side == "kernel":
    import io
    import matplotlib
    matplotlib.use("Agg")
    import digitlib
    splits = digitlib.prepare_splits(digitlib.load_mnist(), validation_split=0.1, seed=0, train_limit=train_limit)
    digitlib.set_reproducible(0)
    network = digitlib.build_model("fast")
    digitlib.fit_model(network, splits, epochs=1, batch_size=256, learning_rate=0.005, stream=io.StringIO())
    evaluation = digitlib.evaluate_model(network, splits.x_test, splits.y_test)
    chosen = representation.map_subset(evaluation.labels, representation.MAP_IMAGES, 0)
    np.save(features_file, representation.penultimate_features(network, splits.x_test[chosen]))
    work = lambda: digitlib.feature_map_figure(network, splits.x_test, evaluation, seed=0)
else:
    features = np.load(features_file)
    assert "keras" not in sys.modules
    work = lambda: representation.feature_map(features, 0)
seconds = {{}}
for load in {loads!r}:
    hog = None if load == "quiet" else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        seconds[load] = [timed(work) for _ in range(repeats)]
    finally:
        if hog:
            hog.kill()
            hog.wait()
print(json.dumps(seconds))
"""


def run(side: str, policy: str, features: Path, repeats: int, train_limit: int) -> dict:
    environment = {name: value for name, value in os.environ.items() if name != "OMP_WAIT_POLICY"}
    environment["OMP_WAIT_POLICY"] = policy  # "" is no policy to libgomp, and keeps digitlib's default away
    code = CHILD.format(root=str(Path(__file__).resolve().parent.parent), loads=LOADS)
    done = subprocess.run([sys.executable, "-c", code, side, str(features), str(repeats), str(train_limit)],
                          capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {side}, OMP_WAIT_POLICY={policy or '(unset)'}: "
          + ", ".join(f"{load} {median(values):.2f} s" for load, values in seconds.items()), flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--name", default="representation")
    arguments = parser.parse_args()
    measured = {}
    with tempfile.TemporaryDirectory() as scratch:
        features = Path(scratch) / "features.npy"
        for side in ("kernel", "fresh"):  # the kernel side writes the features the fresh side maps
            for name, policy in POLICIES.items():
                measured[(side, name)] = run(side, policy, features, arguments.repeats, arguments.train_limit)
    reference = median(measured[("fresh", "libgomp's default (before)")]["quiet"])
    rows = []
    for name in POLICIES:
        for load in LOADS:
            cell, fresh = median(measured[("kernel", name)][load]), median(measured[("fresh", name)][load])
            rows.append([name, load, f"{cell:.2f}", f"{fresh:.2f}", f"{cell / reference:.2f}"])
    from digitlib.report.representation import MAP_IMAGES

    write_result(arguments.name, f"\"What it learned\" ({MAP_IMAGES:,} images): the report's cell in a trained "
                 "process against "
                 f"a standalone t-SNE in a fresh one, medians of {arguments.repeats}, seconds",
                 ["OpenMP wait policy", "cores", "cell, trained process", "t-SNE alone, fresh process",
                  "cell ÷ fresh t-SNE on quiet cores (before)"], rows,
                 {"seconds": {f"{side} / {name}": values for (side, name), values in measured.items()},
                  "train_limit": arguments.train_limit},
                 notes="The trained process fitted `fast` for one epoch first, so the Keras backend's thread pools "
                       "live in it as in a report's kernel; its cell also computes the images' features and "
                       "draws the figure, the fresh process runs only PCA and t-SNE. \"One core busy\": another "
                       "process spins on one core while the map is made, as a second run or a test would. Target: "
                       "the cell at most 1.3 times the fresh t-SNE.")


if __name__ == "__main__":
    main()
