"""The batch builder's flagged 1s (digitlib.augmentation.flag_ones): this checkout against an earlier commit's.

`fast` draws a flag on 35% of each training batch's 1s, in Python, on the host, for every batch: on a GPU that
host work sits between the card's steps. Both versions draw the same batches of `fast`'s first epochs (seed 0,
batch 256, each batch's own random stream, as digitlib.train.training builds them) at share 0.35 and 1.0,
alternating batch by batch, and the bench checks that they draw the same pictures to the bit.

    python bench/flag_ones.py [--baseline COMMIT] [--epochs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import digitlib
from common import median, write_result
from digitlib import augmentation
from digitlib.train.training import FLAG_STREAM, epoch_order


def module_at(commit: str, folder: Path):
    """digitlib/augmentation.py as it was at `commit`, loaded as a module of its own."""
    path = folder / "augmentation_baseline.py"
    path.write_text(subprocess.run(["git", "show", f"{commit}:digitlib/augmentation.py"], capture_output=True,
                                   text=True, check=True, cwd=Path(__file__).resolve().parent).stdout)
    spec = importlib.util.spec_from_file_location("augmentation_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD", metavar="COMMIT")
    parser.add_argument("--epochs", type=int, default=2)
    arguments = parser.parse_args()
    splits = digitlib.prepare_splits(digitlib.load_mnist(), validation_split=0.1, seed=0)
    with tempfile.TemporaryDirectory() as scratch:
        versions = {f"baseline {arguments.baseline}": module_at(arguments.baseline, Path(scratch)),
                    "this checkout": augmentation}
        measured = {}
        for share in (0.35, 1.0):
            seconds = {label: [] for label in versions}  # per epoch
            mismatches = 0
            for epoch in range(arguments.epochs):
                order, spent = epoch_order(len(splits.x_train), 0, epoch), dict.fromkeys(versions, 0.0)
                for batch in range(-(-len(order) // 256)):
                    chosen = order[batch * 256:(batch + 1) * 256]
                    images, labels = splits.x_train[chosen], splits.y_train[chosen]
                    drawn = []
                    for label, module in versions.items():
                        started = time.perf_counter()
                        drawn.append(module.flag_ones(images, labels, np.random.default_rng(
                            [0, epoch, batch, FLAG_STREAM]), share))
                        spent[label] += time.perf_counter() - started
                    mismatches += not np.array_equal(*drawn)
                for label in versions:
                    seconds[label].append(spent[label])
            measured[str(share)] = {"seconds_per_epoch": seconds, "batches_differing": mismatches}
    rows = []
    for share, figures in measured.items():
        before, after = (median(figures["seconds_per_epoch"][label]) for label in versions)
        rows.append([share, f"{before:.3f}", f"{after:.3f}", f"{before / after:.2f}x", figures["batches_differing"]])
    write_result("flag_ones", "Flagged 1s: seconds per epoch of fast's batches (medians over epochs)",
                 ["share of 1s flagged", f"baseline {arguments.baseline}", "this checkout", "speed-up",
                  "batches whose pictures differ"], rows, {"epochs": arguments.epochs, **measured})


if __name__ == "__main__":
    main()
