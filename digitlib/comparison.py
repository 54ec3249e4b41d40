"""Comparing finished runs side by side: accuracy, cost, per-digit skill, curves, shared mistakes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .evaluation import DIGITS
from .figures import digit_grid
from .params import model_label
from .rundir import MODEL_FILE, RUN_FILE, InvalidRun, read_run, read_runs, skip_warning


def load_runs(sources: str | os.PathLike | list[str | os.PathLike]) -> list[dict[str, Any]]:
    """Successful training runs from run directories, or from a reports folder (all of its runs).

    Each run is read back as untrusted data (:func:`digitlib.rundir.read_run`): a directory whose
    files do not validate is skipped with a warning.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    runs = []
    for item in map(Path, items):
        if (item / RUN_FILE).exists():
            try:
                runs.append({**read_run(item), "directory": item})
            except InvalidRun as problem:
                skip_warning(item, problem)
        elif item.is_dir():
            runs += [{**run, "directory": item / run["run_id"]} for run in read_runs(item)]
        else:
            raise ValueError(f"{item}: neither a run directory nor a folder of runs")
    runs = [run for run in runs if run["metrics"] is not None and run.get("notebook_name") == "mnist_cnn"]
    if not runs:
        raise ValueError(f"no finished training runs in {', '.join(map(str, items))}")
    return sorted(runs, key=lambda r: -r["metrics"]["test"]["accuracy"])


def label(run: dict[str, Any]) -> str:
    p = run["metrics"]["parameters"]
    return f"{model_label(p)} · {p['epochs']} ep · seed {p['seed']}"


def runs_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run, best first: what it was, how well it did, what it cost."""
    rows = [{
        "run": run["run_id"], "model": model_label((m := run["metrics"])["parameters"]),
        "epochs": m["training"]["epochs"],
        "batch size": m["parameters"]["batch_size"], "seed": m["parameters"]["seed"],
        "test accuracy": f"{m['test']['accuracy']:.2%}", "test loss": f"{m['test']['loss']:.4f}",
        "train seconds": round(m["training"]["train_seconds"], 1), "parameters": m["training"]["model_parameters"],
        "device": m["environment"]["device"]["name"],
    } for run in runs]
    return pd.DataFrame(rows).set_index("run")


def accuracy_time_figure(runs: list[dict[str, Any]]) -> Figure:
    """Test accuracy against training time: the cost of each point of accuracy."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    for run in runs:
        m = run["metrics"]
        axes.scatter(m["training"]["train_seconds"], 100 * m["test"]["accuracy"], s=60)
        axes.annotate(label(run), (m["training"]["train_seconds"], 100 * m["test"]["accuracy"]),
                      textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.set(xscale="log", xlabel="training time (s, log scale)", ylabel="test accuracy (%)",
             title="Accuracy against training time")
    axes.grid(alpha=0.3)
    return figure


def per_digit_figure(runs: list[dict[str, Any]]) -> Figure:
    """Recall per digit for every run: which digits each model still finds hard."""
    table = pd.DataFrame([[run["metrics"]["per_class"][str(d)]["recall"] * 100 for d in DIGITS] for run in runs],
                         index=[label(run) for run in runs], columns=DIGITS)
    figure = Figure(figsize=(9, 1.2 + 0.45 * len(runs)), layout="constrained")
    axes = figure.add_subplot()
    sns.heatmap(table, annot=True, fmt=".1f", cmap="RdYlGn", vmin=min(97.0, table.values.min()), vmax=100,
                ax=axes, cbar_kws={"label": "recall (%)"})
    axes.set(xlabel="digit", ylabel="", title="Per-digit accuracy (recall, %) across runs")
    return figure


def curves_figure(runs: list[dict[str, Any]]) -> Figure:
    """Validation (or training) accuracy per epoch for every run, overlaid."""
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for run in runs:
        history = run["metrics"]["training"]["history"]
        key = "val_accuracy" if "val_accuracy" in history else "accuracy"
        axes.plot(range(1, len(history[key]) + 1), [100 * v for v in history[key]], "o-", markersize=3,
                  label=f"{label(run)} ({'validation' if key.startswith('val') else 'training'})")
    axes.set(xlabel="epoch", ylabel="accuracy (%)", title="Learning curves")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def common_mistakes(runs: list[dict[str, Any]], images: np.ndarray,
                    labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Test images that every run's model gets wrong, with each model's predictions (runs, images)."""
    import keras

    from .evaluation import predict_probabilities
    from .models import jax_compilable

    models = [jax_compilable(keras.saving.load_model(run["directory"] / MODEL_FILE)) for run in runs]
    predictions = np.stack([predict_probabilities(model, images).argmax(axis=1) for model in models])
    return np.flatnonzero((predictions != labels).all(axis=0)), predictions


def common_mistakes_figure(runs: list[dict[str, Any]], images: np.ndarray, labels: np.ndarray,
                           count: int = 30) -> Figure:
    """The digits no model reads right, titled with the true label and the best run's answer."""
    wrong, predictions = common_mistakes(runs, images, labels)
    chosen = wrong[:count]
    titles = [f"{labels[i]} → {predictions[0, i]}" for i in chosen]
    title = (f"{len(wrong)} test digits every model gets wrong (true → {label(runs[0])})" if len(wrong)
             else "No test digit is missed by every model")
    return digit_grid(images[chosen], titles, ["#cf222e"] * len(chosen), 10, title)
