"""Paired by seed: did a change move MNIST test accuracy? McNemar's exact test per seed, Holm over the seeds.

Each BEFORE run is paired with the AFTER run of the same seed (both finished training runs, their
test_predictions.npz read as `digitlib compare` reads them); per pair, the images only one of them reads right,
McNemar's exact p-value and the paired 95% interval of the difference; then the means over the seeds. Writes
bench/results/NAME.md and .json.

    python bench/paired.py --before RUN [RUN ...] --after RUN [RUN ...] [--name paired] [--title TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from common import write_result
from digitlib.report.comparison import load_runs, pairwise_comparisons
from digitlib.report.significance import holm


def _seed(run) -> int:
    return int(run.metrics["parameters"]["seed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", nargs="+", required=True, help="run folders of the recipe before the change")
    parser.add_argument("--after", nargs="+", required=True, help="run folders of the recipe after it, same seeds")
    parser.add_argument("--name", default="paired")
    parser.add_argument("--title", default="MNIST test accuracy before and after, paired by seed")
    arguments = parser.parse_args()
    runs = {side: load_runs(getattr(arguments, side)) for side in ("before", "after")}
    before, after = ({_seed(run): run for run in runs[side]} for side in ("before", "after"))
    if sorted(before) != sorted(after) or len(before) != len(runs["before"]) or len(after) != len(runs["after"]):
        seeds = {side: sorted(map(_seed, runs[side])) for side in runs}
        sys.exit(f"paired: give one run per seed on each side, the same seeds (before: seeds {seeds['before']}, "
                 f"after: {seeds['after']})")
    rows, pairs = [], []
    for seed in sorted(before):
        compared = pairwise_comparisons([before[seed], after[seed]])
        if len(compared) != 1:
            sys.exit(f"paired: seed {seed}: {before[seed].run_id} and {after[seed].run_id} have no test predictions "
                     "in common (test_predictions.npz missing, or scored on other images)")
        (pair,) = compared
        first_is_before = pair.run_a.directory == before[seed].directory
        accuracy_before, accuracy_after = (pair.accuracy_a, pair.accuracy_b) if first_is_before else \
            (pair.accuracy_b, pair.accuracy_a)
        only_before, only_after = (pair.only_a, pair.only_b) if first_is_before else (pair.only_b, pair.only_a)
        low, high = pair.interval if not first_is_before else (-pair.interval[1], -pair.interval[0])
        pairs.append({"seed": seed, "before": before[seed].run_id, "after": after[seed].run_id,
                      "images": pair.images, "accuracy_before": accuracy_before, "accuracy_after": accuracy_after,
                      "only_before": only_before, "only_after": only_after, "p_value": pair.p_value,
                      "difference_interval": [low, high]})
    for pair, adjusted in zip(pairs, holm([pair["p_value"] for pair in pairs])):
        pair["holm_p"] = float(adjusted)
        rows.append([pair["seed"], pair["before"], pair["after"], f"{pair['accuracy_before']:.2%}",
                     f"{pair['accuracy_after']:.2%}", pair["only_before"], pair["only_after"],
                     f"{pair['difference_interval'][0]:+.2%} to {pair['difference_interval'][1]:+.2%}",
                     f"{pair['p_value']:.3g}", f"{pair['holm_p']:.3g}"])
    mean_before = statistics.mean(pair["accuracy_before"] for pair in pairs)
    mean_after = statistics.mean(pair["accuracy_after"] for pair in pairs)
    rows.append(["mean", "", "", f"{mean_before:.3%}", f"{mean_after:.3%}", "", "", "", "", ""])
    write_result(arguments.name, arguments.title,
                 ["seed", "before", "after", "before: test accuracy", "after: test accuracy",
                  "images only before reads right", "images only after reads right",
                  "after minus before (95%, paired)", "McNemar p", "Holm p"],
                 rows, {"pairs": pairs, "mean_before": mean_before, "mean_after": mean_after},
                 notes=f"McNemar's exact test on the test images only one of the two runs reads right "
                       f"({', '.join(str(pair['images']) for pair in pairs)} images per pair); Holm's correction "
                       "over the seeds, a conservative one for what is one question asked three times. A p-value above "
                       "0.05 shows no difference beyond chance; it does not show that there is none.")


if __name__ == "__main__":
    main()
