"""Small pandas tables that let the notebook show data, splits and provenance at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..train.data import MNIST
    from ..train.evaluation import Evaluation
    from ..train.prepare import Splits
    from ..train.training import TrainingResult


def _describe(images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    counts = np.bincount(labels, minlength=10) if len(labels) else np.zeros(10, dtype=int)
    return {
        "images": len(images),
        "array shape": str(images.shape),
        "dtype": str(images.dtype),
        "pixel range": f"{images.min():g} – {images.max():g}" if len(images) else "",
        "images per digit": f"{counts.min()} – {counts.max()}",
    }


def dataset_table(data: MNIST) -> pd.DataFrame:
    """The raw arrays as loaded: counts, shapes, dtype, pixel range and class balance."""
    return pd.DataFrame({"train": _describe(data.x_train, data.y_train),
                         "test": _describe(data.x_test, data.y_test)}).T


def splits_table(splits: Splits) -> pd.DataFrame:
    """The prepared arrays the model sees: 4-D float32 in [0, 1]."""
    return pd.DataFrame({
        "train": _describe(splits.x_train, splits.y_train),
        "validation": _describe(splits.x_val, splits.y_val),
        "test": _describe(splits.x_test, splits.y_test),
    }).T


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in _flatten(f"{prefix}.{key}" if prefix else key, item)]
    return [(prefix, "—" if value is None else str(value))]


def _in_full(table: pd.DataFrame, **format_options: Any):
    """A left-aligned Styler: unlike a DataFrame's repr, it never truncates long values (checksums, paths).

    A Styler writes its cells and labels as raw HTML, and these tables show what users typed and
    what their files are called, so every cell, row label and column label is HTML-escaped.
    """
    return (table.style.set_properties(**{"text-align": "left"})
            .format(escape="html", **format_options)
            .format_index(escape="html", axis=0)
            .format_index(escape="html", axis=1))


def provenance_table(metrics: dict[str, Any]):
    """Parameters, data checksums, seed, versions and hardware of a run, one per row, in full."""
    rows = (_flatten("parameters", metrics["parameters"]) + _flatten("data", metrics["data"])
            + _flatten("reproducibility", metrics["reproducibility"]) + _flatten("", metrics["environment"]))
    return _in_full(pd.DataFrame(rows, columns=["item", "value"]).set_index("item"))


def parameters_table(parameters: dict[str, Any]):
    """The run's parameters as a one-column table, for the top of the report."""
    return _in_full(pd.DataFrame({"value": {name: "—" if value is None else str(value)
                                            for name, value in parameters.items()}}))


def predictions_table(predictions, low_confidence: float = 0.8, top: int = 3):
    """One row per input image: the digit read, its probability, the runners-up, or why it failed; a picture the
    model's not-a-digit detector refuses is noted "not a digit?" with its score. When a
    file name carries its digit (:func:`digitlib.predict.handwriting.label_in_name`), a label column shows it and
    the digit read is green when right, red and noted when wrong; other rows are as they were."""
    from .figures import _RIGHT, _WRONG

    labelled = any(p.label is not None for p in predictions)
    rows = []
    for p in predictions:
        label = {"label": "" if p.label is None else p.label} if labelled else {}
        if p.error:
            rows.append({"image": str(p.path), "digit": "", **label, "probability": "", f"top {top}": "",
                         "note": p.error})
        else:
            notes = ["wrong" if p.correct is False else "", "low confidence" if p.probability < low_confidence else "",
                     f"not a digit? (score {p.score:.3g})" if p.abstained else ""]
            rows.append({"image": str(p.path), "digit": p.digit, **label, "probability": f"{p.probability:.1%}",
                         f"top {top}": ", ".join(f"{d} ({q:.0%})" for d, q in p.top(top)),
                         "note": "; ".join(filter(None, notes))})
    table = _in_full(pd.DataFrame(rows).set_index("image"))
    if not labelled:
        return table
    # By row position, not by label: two files of one name in different folders give two rows of one
    # name, which Styler.apply refuses. Columns 0 and 1 are the digit read and the label.
    colours = {True: _RIGHT, False: _WRONG}
    return table.set_table_styles(
        [{"selector": f"tbody tr:nth-child({row}) td.col{column}",
          "props": [("color", colours[p.correct]), ("font-weight", "600")]}
         for row, p in enumerate(predictions, 1) if p.correct is not None for column in (0, 1)], overwrite=False)


def per_class_table(evaluation: Evaluation):
    """Precision, recall and F1 (four decimals) and support for each digit."""
    from ..train.evaluation import per_class_metrics

    return _in_full(per_class_metrics(evaluation), precision=4)


def members_table(training: TrainingResult, members: list[Evaluation], ensemble: Evaluation):
    """An ensemble's members next to their average: seed, where each came from, training time,
    validation and test accuracy. None (nothing shown) for a model that is not an ensemble."""
    if not members:
        return None
    rows = [{"member": f"seed {info['seed']}", "trained": info["source"],
             "training time": f"{info['train_seconds']:,.0f} s",
             "validation accuracy": "—" if info.get("val_accuracy") is None else f"{info['val_accuracy']:.2%}",
             "test accuracy": f"{evaluation.accuracy:.2%}", "test mistakes": len(evaluation.mistakes)}
            for info, evaluation in zip(training.members, members, strict=True)]
    rows.append({"member": "ensemble (average)", "trained": "", "training time": f"{training.train_seconds:,.0f} s",
                 "validation accuracy": "", "test accuracy": f"{ensemble.accuracy:.2%}",
                 "test mistakes": len(ensemble.mistakes)})
    return _in_full(pd.DataFrame(rows).set_index("member"))
