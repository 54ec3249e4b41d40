"""Abstention: how well a trained model's not-a-digit detector tells digits from pictures that are not digits.

Fits the detector on a finished training run as its notebook does (digitlib.fit_abstention: class statistics of
the last hidden layer and the first convolution block and a bank of training features, on training images; the
score chosen by AUROC on the validation digits against the *tuning* non-digits, the threshold refusing at most 1%
of the validation digits; the test set plays no part), then measures, for the chosen score and the others each at
its own validation threshold:

- the AUROC between the 10,000 MNIST test digits and the *held-out* non-digits (other seeds, the other half of the
  fonts, other writers, the other photograph: digitlib/synthetic/nondigits.py), overall and per family;
- the share refused of the MNIST test digits, of the held-out non-digits (per family) and of the realism set's
  digits (digitlib/synthetic/realism.py, seed 0), each picture prepared as `digitlib predict` prepares it.

Pictures predict cannot read at all (blank paper: "no digit found") are counted apart: they get no answer, so are
never read as a digit, but have no score.

    python bench/abstain.py [--model RUN_DIR] [--per-family 400] [--realism-per-digit 300] [--name abstain]

RUN_DIR defaults to the best finished model in reports/ (what `digitlib predict` reads with).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_result
from digitlib.layout import MODEL_FILE, REPORTS_DIR
from digitlib.models import model_spec
from digitlib.params import model_label
from digitlib.rundir import read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a finished training run's folder (default: the best in reports/)")
    parser.add_argument("--reports-dir", default=REPORTS_DIR, help="where to find the best model")
    parser.add_argument("--data-dir", default=None, help="MNIST's folder (default: $DIGITLIB_DATA_DIR)")
    parser.add_argument("--per-family", type=int, default=400, help="held-out non-digits of each family")
    parser.add_argument("--realism-per-digit", type=int, default=300, help="realism-set images of each digit")
    parser.add_argument("--name", default="abstain", help="results file name (bench/results/NAME.md)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results")
    arguments = parser.parse_args()

    import digitlib
    from digitlib.predict.abstention import SCORES, auroc, candidate_scores, network_outputs, threshold_for
    from digitlib.predict.handwriting import ImageError, load_digit
    from digitlib.synthetic.nondigits import FAMILIES, nondigit_set
    from digitlib.synthetic.realism import write_realism_set

    run_dir = arguments.model or digitlib.default_model(arguments.reports_dir).path.parent
    metrics = read_metrics(run_dir)
    if metrics is None:
        sys.exit(f"abstain: {run_dir} has no metrics.json: give a finished training run")
    parameters = metrics["parameters"]
    split = parameters.get("validation_split")
    split = model_spec(parameters["model"]).validation_split if split is None else split
    model = digitlib.load_trained_model(run_dir / MODEL_FILE)
    splits = digitlib.prepare_splits(digitlib.load_mnist(arguments.data_dir), validation_split=split,
                                     seed=parameters["seed"], train_limit=parameters.get("train_limit"),
                                     test_limit=parameters.get("test_limit"))
    timings = {}
    started = time.perf_counter()
    tuning = nondigit_set("tuning")
    held_out = nondigit_set("held-out", arguments.per_family)
    timings["non-digits"] = time.perf_counter() - started

    started = time.perf_counter()
    detector = digitlib.fit_abstention(model, splits, tuning.images, seed=parameters["seed"])
    timings["fit"] = time.perf_counter() - started
    if detector is None:
        sys.exit(f"abstain: {run_dir} was trained with no validation split, so no threshold can be set")

    def scores_of(images: np.ndarray) -> dict[str, np.ndarray]:
        prepared = images if images.ndim == 4 else digitlib.prepare_images(images)
        return candidate_scores(network_outputs(model, prepared), detector.statistics)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="abstain-realism-") as folder:
        paths = write_realism_set(folder, seed=0, per_digit=arguments.realism_per_digit)
        realism, realism_unreadable = [], 0
        for path in paths:
            try:
                realism.append(load_digit(path))
            except ImageError:
                realism_unreadable += 1
    timings["realism set"] = time.perf_counter() - started
    started = time.perf_counter()
    scored = {"validation": scores_of(splits.x_val), "tuning": scores_of(tuning.images),
              "test": scores_of(splits.x_test), "held-out": scores_of(held_out.images),
              "realism": scores_of(np.stack(realism))}
    timings["scores"] = time.perf_counter() - started

    results, rows = {}, []
    for name in SCORES:
        threshold = threshold_for(scored["validation"][name])
        refused = {where: float(np.mean(s[name] > threshold)) for where, s in scored.items()}
        per_family = {}
        for family in FAMILIES:
            mine = held_out.families == family
            count = int(mine.sum())
            per_family[family] = {
                "pictures": count + held_out.unreadable[family], "unreadable": held_out.unreadable[family],
                "auroc": auroc(scored["test"][name], scored["held-out"][name][mine]) if count else None,
                "refused_of_readable": float(np.mean(scored["held-out"][name][mine] > threshold)) if count else None,
                "refused_or_unreadable": (int(np.sum(scored["held-out"][name][mine] > threshold))
                                          + held_out.unreadable[family]) / (count + held_out.unreadable[family])}
        results[name] = {
            "chosen": name == detector.score, "threshold": threshold,
            "auroc_validation_vs_tuning": auroc(scored["validation"][name], scored["tuning"][name]),
            "auroc_test_vs_held_out": auroc(scored["test"][name], scored["held-out"][name]),
            "refused": refused, "per_family": per_family,
            "held_out_refused_or_unreadable": (int(np.sum(scored["held-out"][name] > threshold))
                                               + sum(held_out.unreadable.values()))
                                              / (len(held_out) + sum(held_out.unreadable.values()))}
        r = results[name]
        rows.append([f"**{name}** (chosen)" if r["chosen"] else name, f"{r['auroc_validation_vs_tuning']:.4f}",
                     f"{r['auroc_test_vs_held_out']:.4f}", f"{threshold:.4g}", f"{refused['validation']:.2%}",
                     f"{refused['test']:.2%}", f"{refused['held-out']:.1%}",
                     f"{r['held_out_refused_or_unreadable']:.1%}", f"{refused['realism']:.2%}"])

    chosen = results[detector.score]
    family_lines = ["| family | pictures | unreadable | " + " | ".join(f"AUROC {n}" for n in SCORES)
                    + " | " + " | ".join(f"refused {n}" for n in SCORES) + " |", "|" + "---|" * (3 + 2 * len(SCORES))]
    for family in FAMILIES:
        cells = [results[n]["per_family"][family] for n in SCORES]
        family_lines.append("| " + " | ".join([family, str(cells[0]["pictures"]), str(cells[0]["unreadable"]),
                                              *(f"{c['auroc']:.4f}" for c in cells),
                                              *(f"{c['refused_of_readable']:.1%}" for c in cells)]) + " |")
    verdict = (f"Chosen on the validation split and the tuning non-digits: **{detector.score}**, threshold "
               f"{detector.threshold:.4g}, refusing {detector.validation_refused:.2%} of the "
               f"{detector.validation_images:,} validation digits. Measured with it: AUROC "
               f"{chosen['auroc_test_vs_held_out']:.4f} between the {len(splits.x_test):,} MNIST test digits and "
               f"the {len(held_out):,} readable held-out non-digits; refused: {chosen['refused']['test']:.2%} of "
               f"the MNIST test digits (target ≤ 1.5%), {chosen['refused']['held-out']:.1%} of the readable held-out "
               f"non-digits ({chosen['held_out_refused_or_unreadable']:.1%} counting the "
               f"{sum(held_out.unreadable.values())} pictures predict finds no mark in; target ≥ 80%), and "
               f"{chosen['refused']['realism']:.2%} of the {len(realism):,} readable realism-set digits "
               f"({realism_unreadable} unreadable).")
    notes = (verdict + "\n\nEvery score at its own threshold (at most 1% of the validation digits refused). "
             "AUROC: the chance a non-digit scores higher than a digit. Per held-out family (AUROC against the MNIST "
             "test digits; refused: share of its readable pictures):\n\n" + "\n".join(family_lines)
             + f"\n\nNon-digits (digitlib/synthetic/nondigits.py): tuning {len(tuning):,} readable of "
             f"{len(tuning) + sum(tuning.unreadable.values()):,} (as the training notebook makes them), held-out "
             f"{len(held_out):,} readable of {len(held_out) + sum(held_out.unreadable.values()):,} "
             f"({arguments.per_family} per family). Realism set: seed 0, {arguments.realism_per_digit} per digit. "
             "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".")
    name = f"{model_label(parameters)} seed {parameters['seed']}"
    write_result(arguments.name, f"Abstention: not a digit? ({name}, run {run_dir.resolve().name})",
                 ["score", "AUROC validation vs tuning (chooses)", "AUROC MNIST test vs held-out", "threshold",
                  "validation refused", "MNIST test refused", "held-out non-digits refused",
                  "held-out refused or unreadable", "realism digits refused"], rows,
                 {"run": run_dir.resolve().name, "model": name, "chosen": detector.score,
                  "threshold": detector.threshold, "validation_refused": detector.validation_refused,
                  "validation_images": detector.validation_images, "test_images": len(splits.x_test),
                  "tuning": {"readable": len(tuning), "unreadable": tuning.unreadable},
                  "held_out": {"readable": len(held_out), "unreadable": held_out.unreadable,
                               "per_family": arguments.per_family},
                  "realism": {"readable": len(realism), "unreadable": realism_unreadable,
                              "per_digit": arguments.realism_per_digit},
                  "scores": results, "seconds": timings},
                 notes=notes, results=arguments.results)


if __name__ == "__main__":
    main()
