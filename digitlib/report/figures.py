"""The report's figures, as matplotlib Figure objects (no global pyplot state).

A Figure returned as a notebook cell's last expression is shown once, and the
same objects can be saved or tested without a display. Each is a :class:`DescribedFigure`:
it carries its alt text, what it shows and its key numbers, which the report's <img> reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from ..train.evaluation import DIGITS, Evaluation

_RIGHT, _WRONG = "#1a7f37", "#cf222e"


class DescribedFigure(Figure):
    """A matplotlib Figure that says what it shows: `alt`, one or two sentences with the figure's own numbers,
    for a reader who cannot see it. Shown as a notebook cell's result, it is the same PNG as any Figure, with
    the text as the output's ``alt`` metadata for image/png; the report's template writes it as the <img>'s alt
    (escaped: it may hold a file's name)."""

    def __init__(self, alt: str, **options):
        super().__init__(**options)
        self.alt = alt

    @property
    def alt(self) -> str:
        return self._alt

    @alt.setter
    def alt(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a figure needs alt text that says what it shows and its numbers, got "
                             f"{text!r}")
        self._alt = text

    # Each axes' title sits right above it: none of these figures has tick labels on top for matplotlib to lift
    # a title over, and looking for them (a tight box around every axis of every axes, at every draw) was most
    # of the time a gallery of 30 digits took to draw. A title's y fixed at creation skips that search.
    # Titles and labels are text as given: a file's name such as cost_$3_$4.png is not read as math (which
    # would fail to draw, or draw something else than the name).
    _AXES_TEXT = {"axes.titley": 1.0, "text.parse_math": False}

    def add_subplot(self, *args, **kwargs):
        with matplotlib.rc_context(self._AXES_TEXT):
            return super().add_subplot(*args, **kwargs)

    def add_axes(self, *args, **kwargs):
        with matplotlib.rc_context(self._AXES_TEXT):
            return super().add_axes(*args, **kwargs)

    def suptitle(self, t, **kwargs):
        return super().suptitle(t, **{"parse_math": False, **kwargs})

    def _repr_mimebundle_(self, include=None, exclude=None):
        # Metadata only: IPython's PNG formatter (matplotlib's inline backend) still draws the figure, and
        # keeps these metadata beside it.
        return {}, {"image/png": {"alt": self.alt}}


def _count(number: int, thing: str) -> str:
    """'1 mistake', '50 mistakes', '10,000 test images'."""
    return f"{number:,} {thing}{'' if number == 1 else 's'}"


def _confusion_alt(counts: np.ndarray) -> str:
    """'Confusion matrix of 10,000 test images: 50 mistakes, most often 9 read as 4 (4 times).'"""
    wrong = counts * (1 - np.eye(len(counts), dtype=counts.dtype))
    said = f"Confusion matrix of {_count(int(counts.sum()), 'test image')}: "
    if not wrong.any():
        return said + "no mistakes."
    true, read = np.unravel_index(np.argmax(wrong), wrong.shape)
    times = "once" if wrong[true, read] == 1 else f"{wrong[true, read]:,} times"
    return said + f"{_count(int(wrong.sum()), 'mistake')}, most often {true} read as {read} ({times})."


def confusion_matrix_figure(evaluation: Evaluation) -> DescribedFigure:
    """Counts of true digit (rows) against predicted digit (columns); off-diagonal cells are errors."""
    counts = confusion_matrix(evaluation.labels, evaluation.predictions, labels=DIGITS)
    figure = DescribedFigure(_confusion_alt(counts), figsize=(7.5, 6.5), layout="constrained")
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
                suptitle: str, *, alt: str | None = None) -> DescribedFigure:
    """Digits in a grid, each titled and coloured: the layout of every gallery in the reports. `alt` says what
    it shows and its numbers; without one, the title stands for it."""
    rows = max(1, -(-len(images) // columns))
    figure = DescribedFigure(alt or suptitle, figsize=(1.3 * columns, 1.5 * rows + 0.4), layout="constrained")
    figure.suptitle(suptitle)
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(np.squeeze(images[index]), cmap="gray_r", vmin=0, vmax=1 if images.dtype != np.uint8 else 255)
            axes.set_title(titles[index], fontsize=9, color=colors[index])
    return figure


def sample_predictions_figure(images: np.ndarray, evaluation: Evaluation, count: int = 30,
                              columns: int = 10, seed: int = 0) -> DescribedFigure:
    """A random sample of test digits titled 'true → predicted'; wrong ones in red."""
    if len(images) != len(evaluation.labels):
        raise ValueError(f"{len(images)} images but {len(evaluation.labels)} evaluated labels")
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False))
    right = evaluation.predictions[chosen] == evaluation.labels[chosen]
    titles = [f"{t} → {p}" + ("" if ok else " ✗") for t, p, ok in
              zip(evaluation.labels[chosen], evaluation.predictions[chosen], right)]
    missed = [f"{t} read as {p}" for t, p, ok in
              zip(evaluation.labels[chosen], evaluation.predictions[chosen], right) if not ok]
    alt = (f"{len(chosen)} test digits drawn at random, each titled with its true and predicted digit: "
           f"{int(right.sum())} of {len(chosen)} right" + (f"; wrong: {_listed(missed)}." if missed else "."))
    return digit_grid(images[chosen], titles, [_RIGHT if ok else _WRONG for ok in right], columns,
                       f"Sample test predictions (true → predicted), {int((~right).sum())} of {len(chosen)} wrong",
                       alt=alt)


def _listed(items: Sequence[str], most: int = 5) -> str:
    """'a, b and c'; past `most` items, 'a, b, c, d, e and 7 more'."""
    shown = list(items[:most]) + ([f"{len(items) - most} more"] if len(items) > most else [])
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def confident_mistakes_figure(images: np.ndarray, evaluation: Evaluation, count: int = 20,
                              columns: int = 10) -> DescribedFigure:
    """The wrong predictions the model was most sure of: where it fails, and how badly."""
    chosen = evaluation.mistakes[:count]
    titles = [f"{evaluation.labels[i]} → {evaluation.predictions[i]} ({evaluation.confidence[i]:.0%})" for i in chosen]
    title = (f"The {len(chosen)} most confident mistakes (true → predicted, confidence)" if len(chosen)
             else "No mistakes on the test set")
    if len(chosen):
        first, total = chosen[0], len(evaluation.mistakes)
        which = f"All {_count(total, 'mistake')}" if len(chosen) == total else \
            f"The {len(chosen)} most confident of {_count(total, 'mistake')}"
        alt = (f"{which} on {_count(len(evaluation.labels), 'test image')}, each titled true → predicted digit and "
               f"confidence; the surest: a {evaluation.labels[first]} read as {evaluation.predictions[first]} "
               f"with {evaluation.confidence[first]:.0%} confidence.")
    else:
        alt = f"No mistakes on the {_count(len(evaluation.labels), 'test image')}: an empty gallery."
    return digit_grid(images[chosen], titles, [_WRONG] * len(chosen), columns, title, alt=alt)


def _curves_alt(history: Mapping[str, Sequence[float]]) -> str:
    """'Loss and accuracy per epoch over 12 epochs, training and validation: validation accuracy 99.1% after the
    last epoch, best 99.3% at epoch 10; training accuracy 99.6%.'"""
    for metric in ("loss", "accuracy"):
        if metric not in history:
            raise ValueError(f"history has no {metric!r}; it holds {sorted(history)}")
    accuracy, epochs = list(history["accuracy"]), len(history["accuracy"])
    if not epochs:
        return "Loss and accuracy per epoch: empty, no epoch was recorded."
    said = f"Loss and accuracy per epoch over {_count(epochs, 'epoch')}, training"
    validation = np.array(history.get("val_accuracy", []), dtype=float)  # a diverged epoch's None: NaN
    if len(validation) and np.isnan(validation).all():
        return said + " and validation: the validation accuracy is not a number at any epoch (training diverged)."
    if len(validation):
        best = int(np.nanargmax(validation))
        return (said + f" and validation: validation accuracy {validation[-1]:.2%} after the last epoch, best "
                f"{validation[best]:.2%} at epoch {best + 1}; training accuracy {accuracy[-1]:.2%}, loss "
                f"{history['loss'][-1]:.4f}.")
    return (said + f" only: training accuracy {accuracy[-1]:.2%} and loss {history['loss'][-1]:.4f} after the last "
            "epoch.")


def learning_curves_figure(history: Mapping[str, Sequence[float]]) -> DescribedFigure:
    """Loss and accuracy per epoch, training against validation: the gap shows overfitting."""
    figure = DescribedFigure(_curves_alt(history), figsize=(11, 4), layout="constrained")
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        epochs = np.arange(1, len(history[metric]) + 1)
        axes.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        axes.set(xlabel="epoch", ylabel=metric, title=f"{metric.capitalize()} per epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def _numbers_alt(readable, left_out: int) -> str:
    """'2 pictures read as whole numbers, each with its digits boxed: year.png as 2026 (4 digits, the least sure
    97.0%) and meter.png as 0415 3 (5 digits, ...).'"""
    def one(reading) -> str:
        least = min(d.probability for d in reading.digits)
        return (f"{reading.path.name} as {reading.text} ({_count(len(reading.digits), 'digit')}, the least sure "
                f"{least:.1%})")

    alt = (f"{_count(len(readable), 'picture')} read as whole numbers, each with its digits boxed and read: "
           f"{_listed([one(r) for r in readable], most=10)}")
    return alt + (f"; {left_out} more not shown." if left_out else ".")


def numbers_figure(readings, most: int = 20) -> DescribedFigure:
    """Each picture read as a whole number (:func:`digitlib.predict.number.read_numbers`), the first `most` of
    those read: the picture with a box round each digit found, the digit and its probability above the box (red
    below 80%), and the number read as its title."""
    from matplotlib.patches import Rectangle

    from ..predict.handwriting import ImageError, grey_levels, read_image

    readable = [r for r in readings if r.error is None]
    if not readable:
        raise ValueError("no picture could be read as a number, so there is nothing to show")
    shown = readable[:most]
    figure = DescribedFigure(_numbers_alt(shown, len(readable) - len(shown)), figsize=(10, 2.6 * len(shown)),
                             layout="constrained")
    for axes, reading in zip(figure.subplots(len(shown), 1, squeeze=False)[:, 0], shown):
        try:
            axes.imshow(grey_levels(read_image(reading.path)), cmap="gray", vmin=0, vmax=1)
        except ImageError:
            pass  # the file changed since it was read; the boxes still say what was found
        for digit in reading.digits:
            x0, y0, x1, y1 = digit.box
            color = _RIGHT if digit.probability >= 0.8 else _WRONG
            axes.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                                     linewidth=1.5))
            axes.annotate(f"{digit.digit} {digit.probability:.0%}", (x0, y0), xytext=(0, 3),
                          textcoords="offset points", color=color, fontsize=8, va="bottom")
        axes.set_title(f"{reading.path.name}: {reading.text}", fontsize=10)
        axes.set_axis_off()
    return figure


def _predictions_alt(readable, low_confidence: float) -> str:
    """'3 images, each as given, as the model sees it (28×28) and its ten probabilities: a.png read as 7
    (98.0%), ...; 1 of 3 below 80% confidence; 2 carry a label in their names, 2 read right.'"""
    def one(prediction) -> str:
        said = f"{prediction.path.name} read as {prediction.digit} ({prediction.probability:.1%}"
        if prediction.label is not None:
            said += f", label {prediction.label}: {'right' if prediction.correct else 'wrong'}"
        return said + ")"

    unsure = sum(p.probability < low_confidence for p in readable)
    labelled = [p for p in readable if p.label is not None]
    alt = (f"{_count(len(readable), 'image')}, each as given, as the model sees it (28×28) and its ten "
           f"probabilities: {_listed([one(p) for p in readable], most=10)}; {unsure} of {len(readable)} below "
           f"{low_confidence:.0%} confidence")
    if labelled:
        alt += f"; {sum(bool(p.correct) for p in labelled)} of the {len(labelled)} labelled in their names read right"
    return alt + "."


def predictions_figure(predictions, low_confidence: float = 0.8) -> DescribedFigure:
    """Per image: the picture as given, the 28x28 digit the model saw, and its ten probabilities. When the
    file's name carries its digit, the title says right or wrong in green or red and the label's bar is
    hatched; otherwise predictions below `low_confidence` are the ones in red."""
    from ..predict.handwriting import ImageError, grey_levels, read_image

    readable = [p for p in predictions if p.error is None]
    if not readable:
        raise ValueError("no image could be read, so there is nothing to show")
    figure = DescribedFigure(_predictions_alt(readable, low_confidence), figsize=(10, 2.1 * len(readable)),
                             layout="constrained")
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
