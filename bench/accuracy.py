"""Accuracy of every rung of the model ladder on the full test set: the README's table.

Runs the sweep (sweeps/accuracy.yaml by default) through `digitlib sweep`'s machinery, so runs
already finished in the reports folder with the same parameters are not run again, then reads each
run's metrics.json and writes bench/results/accuracy.md and accuracy.json: per model, its size,
epochs, test accuracy (mean over seeds, with the spread), median training time per device, and
whether the issue's target is met.

    python bench/accuracy.py [--sweep sweeps/accuracy.yaml] [--reports-dir reports] [--jobs 1] [--name accuracy]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict

from common import median, write_result
from digitlib.params import model_label
from digitlib.run.sweep import load_sweep, render_comparison, run_sweep
from digitlib.rundir import read_metrics, run_directory

TARGETS = {  # model: (description, check of a row of summarize)
    "seed": ("≥ 98.5%", lambda row: row["mean_accuracy"] >= 0.985),
    "keras-example": ("within 0.1 of the published 99.2%", lambda row: abs(row["mean_accuracy"] - 0.992) <= 0.001),
    "strong": ("≥ 99.70% (mean of seeds) in ≤ 10 min each",
               lambda row: row["mean_accuracy"] >= 0.997 and max(row["seconds"]) <= 600),
    "ensemble": ("≥ 99.75% with ≤ 5 members",
                 lambda row: row["mean_accuracy"] >= 0.9975 and len(row["members"]) <= 5),
}


def device_label(environment: dict) -> str:
    device = environment.get("device", {})
    if device.get("type", "CPU") == "CPU":
        return f"{environment.get('cpu_count', '?')}-core CPU"
    return f"{device.get('name', device.get('type'))} ({environment.get('backend', '?')})"


def summarize(runs: list[dict]) -> list[dict]:
    """One row per model, in the order the sweep first names them."""
    by_model: dict[str, list[dict]] = defaultdict(list)
    for metrics in runs:
        by_model[model_label(metrics["parameters"])].append(metrics)
    rows = []
    for name, group in by_model.items():
        accuracies = [m["test"]["accuracy"] for m in group]
        each = [m["training"]["train_seconds"] for m in group]
        seconds: dict[str, list[float]] = defaultdict(list)
        for m, taken in zip(group, each):
            seconds[device_label(m.get("environment", {}))].append(taken)
        target = TARGETS.get(group[0]["model"])
        validation = [m["training"]["history"]["val_accuracy"][-1] for m in group
                      if m["training"]["history"].get("val_accuracy")]
        row = {
            "model": name,
            "parameters": group[0]["training"]["model_parameters"],
            "epochs": group[0]["training"]["epochs"],
            "seeds": [m["parameters"]["seed"] for m in group],
            "test_accuracies": accuracies,
            "mean_accuracy": statistics.fmean(accuracies),
            "validation_accuracies": validation,  # the last epoch's: what a choice between recipes may read
            "train_seconds": {device: median(values) for device, values in seconds.items()},
            "seconds": each,
            "members": group[0]["training"].get("members"),  # an ensemble's: one record per member
            "target": target[0] if target else None,
        }
        rows.append({**row, "target_met": target[1](row) if target else None})
    return rows


def markdown_rows(rows: list[dict], devices: list[str]) -> list[list[str]]:
    table = []
    for row in rows:
        accuracy = f"{row['mean_accuracy']:.2%}"
        if len(row["test_accuracies"]) > 1:  # a mean of seeds: one more digit, so it is not rounded onto a target
            accuracy = (f"{row['mean_accuracy']:.3%} mean ({min(row['test_accuracies']):.2%}–"
                        f"{max(row['test_accuracies']):.2%}, {len(row['test_accuracies'])} seeds)")
        validation = (f"{statistics.fmean(row['validation_accuracies']):.2%}" if row["validation_accuracies"]
                      else "none held out")
        times = [f"{row['train_seconds'][d]:,.0f} s" if d in row["train_seconds"] else "not measured" for d in devices]
        verdict = "—" if row["target"] is None else f"{row['target']}: {'met' if row['target_met'] else 'missed'}"
        table.append([row["model"], f"{row['parameters']:,}", str(row["epochs"]), accuracy, validation, *times,
                      verdict])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="sweeps/accuracy.yaml")
    parser.add_argument("--reports-dir", default="reports")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--name", default="accuracy", help="results file name in bench/results/")
    arguments = parser.parse_args()
    sweep = load_sweep(arguments.sweep)
    outcomes = run_sweep(sweep, arguments.reports_dir, jobs=arguments.jobs)
    comparison = render_comparison(sweep, outcomes, arguments.reports_dir)
    order = [json.dumps(p, sort_keys=True) for p in sweep.parameter_sets]
    outcomes.sort(key=lambda o: order.index(json.dumps(o.parameters, sort_keys=True)))  # the sweep's order
    finished = [o for o in outcomes if o.succeeded]
    runs = [read_metrics(run_directory(arguments.reports_dir, o.run_id)) for o in finished]
    rows = summarize(runs)
    devices = sorted({d for row in rows for d in row["train_seconds"]}, key=lambda d: "CPU" not in d)
    failed = [o for o in outcomes if o not in finished]
    images = sorted({m["test"]["images"] for m in runs})
    notes = [f"Test accuracy on {' or '.join(f'{n:,}' for n in images)} test images, never used to select anything; "
             "validation accuracy is the last epoch's on the 10% of the training set each run holds out (mean of "
             "the seeds; an ensemble's, of its members).",
             "Training time is the median per run; an ensemble's is the sum of its members' times, each measured "
             "when that member was trained."]
    if not any("CPU" not in d for d in devices):
        notes.append("No GPU was measured.")
    if failed:
        notes.append(f"Runs that failed: {len(failed)} (see the sweep's output).")
    if comparison:
        notes.append(f"Comparison report: {comparison}")
    write_result(arguments.name, "Test accuracy of the model ladder",
                 ["model", "parameters", "epochs", "test accuracy", "validation accuracy",
                  *(f"training time, {d}" for d in devices),
                  "target"],
                 markdown_rows(rows, devices),
                 {"sweep": sweep.name, "rows": rows, "runs": [o.run_id for o in finished],
                  "failed": [o.as_dict() for o in failed]}, notes=" ".join(notes))


if __name__ == "__main__":
    main()
