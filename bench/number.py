"""Reading whole numbers: `digitlib predict --number`'s reading on composed pictures no training saw.

Composes numbers of 4 to 8 digits (digitlib/synthetic/numbers.py, fixed seed) from MNIST *test* digits and from
digits the realism set's writers write (a pool drawn once, none an image of the realism set itself), spaced,
tight and touching, photographed on paper, and reads them with the best finished model as `digitlib predict
--number` does (digitlib.predict.number, in this process, in batches). Writes bench/results/number.md and .json:
per source, layout and length, whole-number accuracy (Wilson 95% interval), per-digit accuracy (a true digit
counts as read right when a digit read has its box, intersection over union above one half, and its value) and
how often the digits found were exactly the true ones.

    python bench/number.py [--reports-dir reports | --model PATH] [--four 200] [--longer 50] [--seed 0]
                           [--tuning [--writers 1]] [--name NAME]

--tuning composes the same kinds of numbers from other digits, MNIST *training* digits and the writers of the
realism set made with seed 1 (--writers: another seed's, never 0), into number_tuning.md (give another --name for
other writers): the pictures the reader's rules are chosen on, never the measured ones.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from common import RESULTS, write_result
from digitlib.layout import REPORTS_DIR
from digitlib.modelfile import load_trained_model
from digitlib.predict.number import read_pictures
from digitlib.predict.predictions import default_model
from digitlib.report.significance import accuracy_interval
from digitlib.synthetic.numbers import LAYOUTS, mnist_ink, number_picture, writer_ink
from digitlib.synthetic.realism import WRITERS
from digitlib.train.data import load_mnist

SOURCES = ("MNIST test", "realism writers")
LENGTHS = (4, 5, 6, 7, 8)
POOL_PER_WRITER_DIGIT = 4  # each writer writes each digit this many times for the pool


def _iou(a, b) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def score(truth: str, boxes: list, digits: tuple) -> tuple[bool, int, bool]:
    """(whole number right, true digits read right at their place, digits found exactly the true boxes)."""
    right = sum(any(_iou(box, d.box) > 0.5 and d.digit == int(t) for d in digits) for t, box in zip(truth, boxes))
    found = len(digits) == len(boxes) and all(_iou(box, d.box) > 0.5 for box, d in zip(boxes, digits))
    return "".join(str(d.digit) for d in digits) == truth, right, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a model.keras (default: the best finished model in --reports-dir)")
    parser.add_argument("--reports-dir", default=REPORTS_DIR)
    parser.add_argument("--data-dir", default=os.environ.get("DIGITLIB_DATA_DIR", "../shared/data/mnist"))
    parser.add_argument("--four", type=int, default=200, help="numbers of 4 digits per source and layout")
    parser.add_argument("--longer", type=int, default=50, help="numbers of each length 5-8 per source and layout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", help="the result's file name (default: number, or number_tuning)")
    parser.add_argument("--tuning", action="store_true",
                        help="MNIST training digits and seed 1's writers, to choose rules on")
    parser.add_argument("--writers", type=int,
                        help="with --tuning: the realism seed whose writers write the digits (default 1; never 0)")
    arguments = parser.parse_args()
    if arguments.writers is not None and not arguments.tuning:
        parser.error("--writers goes with --tuning: the measured numbers are always written by seed 0's writers")
    if arguments.writers is not None and arguments.writers < 1:
        parser.error("--writers: seed 0's writers are the measured ones; tune on another seed's (1, 2, ...)")
    name = arguments.name or ("number_tuning" if arguments.tuning else "number")
    writers_seed = (arguments.writers or 1) if arguments.tuning else 0
    tuning_sources = ("MNIST training", f"seed {writers_seed}'s writers")
    chosen = None if arguments.model else default_model(arguments.reports_dir)
    model = load_trained_model(arguments.model or chosen.path)
    mnist = load_mnist(arguments.data_dir)

    started = time.perf_counter()
    pool = {d: [writer_ink(d, k, writers_seed) for k in range(WRITERS * POOL_PER_WRITER_DIGIT)] for d in range(10)}
    pool_seconds = time.perf_counter() - started
    images, labels = (mnist.x_train, mnist.y_train) if arguments.tuning else (mnist.x_test, mnist.y_test)
    by_digit = {d: np.nonzero(labels == d)[0] for d in range(10)}

    rows, results = [], []
    for s, source in enumerate(tuning_sources if arguments.tuning else SOURCES):
        for k, layout in enumerate(LAYOUTS):
            for length in LENGTHS:
                rng = np.random.default_rng([arguments.seed, s, k, length])
                count = arguments.four if length == 4 else arguments.longer
                truths, pictures, boxes = [], [], []
                composing = time.perf_counter()
                for _ in range(count):
                    digits = [int(d) for d in rng.integers(0, 10, size=length)]
                    inks = ([mnist_ink(images[rng.choice(by_digit[d])]) for d in digits] if s == 0
                            else [pool[d][int(rng.integers(len(pool[d])))] for d in digits])
                    picture, placed = number_picture([inks], layout, rng)
                    truths.append("".join(map(str, digits)))
                    pictures.append(picture)
                    boxes.append(placed[0])
                reading = time.perf_counter()
                readings = read_pictures(model, pictures)
                done = time.perf_counter()
                scored = [score(t, b, r) for t, b, r in zip(truths, boxes, readings)]
                whole, right, found = (sum(x[i] for x in scored) for i in range(3))
                low, high = accuracy_interval(whole, count)
                result = {"source": source, "layout": layout, "length": length, "numbers": count,
                          "whole_right": whole, "digits": count * length, "digits_right": right,
                          "found_exactly": found, "whole_accuracy": whole / count, "whole_interval_95": [low, high],
                          "digit_accuracy": right / (count * length), "compose_seconds": reading - composing,
                          "read_seconds": done - reading,
                          "misread": [[t, "".join(str(d.digit) for d in r)] for t, r, x in
                                      zip(truths, readings, scored) if not x[0]][:20]}
                results.append(result)
                rows.append([source, layout, length, count, f"{whole / count:.1%} ({low:.1%}–{high:.1%})",
                             f"{right / (count * length):.2%} of {count * length:,}", f"{found / count:.1%}",
                             f"{done - reading:.1f} s"])
                print(*rows[-1], sep=" | ", flush=True)

    four_spaced = [r for r in results if r["length"] == 4 and r["layout"] == "spaced"]
    marked = "Tuning pictures (not the measure), figures" if arguments.tuning else "Issue #26's marks"

    def verdict(value: float, mark: float) -> str:
        return "" if arguments.tuning else f" ({'meets' if value >= mark else 'misses'} ≥ {mark:.0%})"

    marks = "; ".join(f"{r['source']}: whole number {r['whole_accuracy']:.1%}{verdict(r['whole_accuracy'], 0.95)}, "
                      f"per digit {r['digit_accuracy']:.2%}{verdict(r['digit_accuracy'], 0.98)}" for r in four_spaced)
    notes = (f"Read with {chosen or arguments.model}. {marked} for 4 spaced digits: {marks}. "
             "Touching digits are stated separately, without a mark.\n\n"
             "Pictures: digits scaled to one height (28-72 px) and set in one line, spaced (0.25-0.6 of the "
             "height apart), tight (1 px to 0.1 of the height, never touching) or touching (moved together until "
             "their ink meets, then 0-2 px further), photographed on paper (digitlib.synthetic.photos.on_paper: "
             f"paper and pen greys, blur, noise, JPEG). MNIST {'training' if arguments.tuning else 'test'} digits are "
             f"drawn at random from the {len(labels):,}; the "
             f"writers' digits from a pool of {WRITERS * POOL_PER_WRITER_DIGIT} samples per digit, "
             f"{POOL_PER_WRITER_DIGIT} by each of the realism set's {WRITERS} writers (seed {writers_seed}'s writers, "
             f"drawn afresh, {pool_seconds:.0f} s). Whole number: every digit right and none extra. Per digit: a true "
             "digit read right at its place (a digit read whose box overlaps its box by IoU > 0.5). Found "
             "exactly: the digits found were the true ones, box for box, whatever they were read as. The first "
             f"20 misread numbers of each row (true, read) are in {name}.json.")
    title = "Reading whole numbers (`digitlib predict --number`)" + (", tuning pictures" if arguments.tuning else "")
    write_result(name, title,
                 ["source", "layout", "digits", "numbers", "whole number right (95% interval)", "per digit",
                  "digits found exactly", "read time"], rows,
                 {"model": str(arguments.model or chosen.path), "seed": arguments.seed, "results": results},
                 notes=notes, results=RESULTS)


if __name__ == "__main__":
    main()
