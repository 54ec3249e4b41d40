"""The report's figures, as matplotlib Figure objects (no global pyplot state).

A Figure returned as a notebook cell's last expression is shown once, and the
same objects can be saved or tested without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from ..train.evaluation import DIGITS, Evaluation

_RIGHT, _WRONG = "#1a7f37", "#cf222e"


def confusion_matrix_figure(evaluation: Evaluation) -> Figure:
    """Counts of true digit (rows) against predicted digit (columns); off-diagonal cells are errors."""
    counts = confusion_matrix(evaluation.labels, evaluation.predictions, labels=DIGITS)
    figure = Figure(figsize=(7.5, 6.5), layout="constrained")
    axes = figure.add_subplot()
    off_diagonal = np.ma.masked_array(counts, mask=np.eye(len(DIGITS), dtype=bool))
    sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, square=True, ax=axes,
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": 8})
    for (row, column), value in np.ndenumerate(off_diagonal.filled(0)):
        if value:
            axes.add_patch(_outline(column, row))
    axes.set(xlabel="predicted digit", ylabel="true digit",
             title=f"Confusion matrix ({len(evaluation.labels):,} test images, "
                   f"{int((evaluation.predictions != evaluation.labels).sum())} wrong)")
    return figure


def _outline(column: int, row: int):
    from matplotlib.patches import Rectangle

    return Rectangle((column, row), 1, 1, fill=False, edgecolor=_WRONG, linewidth=1)


def digit_grid(images: np.ndarray, titles: Sequence[str], colors: Sequence[str], columns: int,
                suptitle: str) -> Figure:
    """Digits in a grid, each titled and coloured: the layout of every gallery in the reports."""
    rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=(1.3 * columns, 1.5 * rows + 0.4), layout="constrained")
    figure.suptitle(suptitle)
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(np.squeeze(images[index]), cmap="gray_r", vmin=0, vmax=1 if images.dtype != np.uint8 else 255)
            axes.set_title(titles[index], fontsize=9, color=colors[index])
    return figure


def sample_predictions_figure(images: np.ndarray, evaluation: Evaluation, count: int = 30,
                              columns: int = 10, seed: int = 0) -> Figure:
    """A random sample of test digits titled 'true → predicted'; wrong ones in red."""
    if len(images) != len(evaluation.labels):
        raise ValueError(f"{len(images)} images but {len(evaluation.labels)} evaluated labels")
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False))
    right = evaluation.predictions[chosen] == evaluation.labels[chosen]
    titles = [f"{t} → {p}" + ("" if ok else " ✗") for t, p, ok in
              zip(evaluation.labels[chosen], evaluation.predictions[chosen], right)]
    return digit_grid(images[chosen], titles, [_RIGHT if ok else _WRONG for ok in right], columns,
                       f"Sample test predictions (true → predicted), {int((~right).sum())} of {len(chosen)} wrong")


def confident_mistakes_figure(images: np.ndarray, evaluation: Evaluation, count: int = 20,
                              columns: int = 10) -> Figure:
    """The wrong predictions the model was most sure of: where it fails, and how badly."""
    chosen = evaluation.mistakes[:count]
    titles = [f"{evaluation.labels[i]} → {evaluation.predictions[i]} ({evaluation.confidence[i]:.0%})" for i in chosen]
    title = (f"The {len(chosen)} most confident mistakes (true → predicted, confidence)" if len(chosen)
             else "No mistakes on the test set")
    return digit_grid(images[chosen], titles, [_WRONG] * len(chosen), columns, title)


def learning_curves_figure(history: Mapping[str, Sequence[float]]) -> Figure:
    """Loss and accuracy per epoch, training against validation: the gap shows overfitting."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        if metric not in history:
            raise ValueError(f"history has no {metric!r}; it holds {sorted(history)}")
        epochs = np.arange(1, len(history[metric]) + 1)
        axes.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        axes.set(xlabel="epoch", ylabel=metric, title=f"{metric.capitalize()} per epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def predictions_figure(predictions, low_confidence: float = 0.8) -> Figure:
    """Per image: the picture as given, the 28x28 digit the model saw, and its ten probabilities. When the
    file's name carries its digit, the title says right or wrong in green or red and the label's bar is
    hatched; otherwise predictions below `low_confidence` are the ones in red."""
    from ..predict.handwriting import ImageError, grey_levels, read_image

    readable = [p for p in predictions if p.error is None]
    if not readable:
        raise ValueError("no image could be read, so there is nothing to show")
    figure = Figure(figsize=(10, 2.1 * len(readable)), layout="constrained")
    for row, prediction in zip(figure.subplots(len(readable), 3, squeeze=False,
                                               gridspec_kw={"width_ratios": [1, 1, 2.4]}), readable):
        original, seen, bars = row
        try:
            original.imshow(grey_levels(read_image(prediction.path)), cmap="gray", vmin=0, vmax=1)
        except ImageError:
            pass  # the file changed since it was predicted; the other panels still stand
        original.set_title(prediction.path.name, fontsize=9)
        seen.imshow(prediction.digit_image, cmap="gray", vmin=0, vmax=255)
        seen.set_title("as the model sees it", fontsize=9)
        for axes in (original, seen):
            axes.set_axis_off()
        unsure = prediction.probability < low_confidence
        flagged = unsure if prediction.correct is None else not prediction.correct
        colors = [(_WRONG if flagged else _RIGHT) if d == prediction.digit else "#8c959f" for d in DIGITS]
        drawn = bars.bar(DIGITS, prediction.probabilities, color=colors)
        if prediction.label is not None and prediction.label != prediction.digit:
            drawn[prediction.label].set(hatch="//", edgecolor=_RIGHT)
        bars.set(xticks=DIGITS, ylim=(0, 1), ylabel="probability")
        judged = "" if prediction.label is None else \
            f" · label {prediction.label}: {'right' if prediction.correct else 'wrong'}"
        bars.set_title(f"{prediction.digit} ({prediction.probability:.1%}){judged}"
                       + ("  low confidence" if unsure else ""), fontsize=10,
                       color=_WRONG if flagged else (_RIGHT if prediction.correct else "black"))
    return figure
