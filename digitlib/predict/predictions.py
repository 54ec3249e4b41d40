"""Reading digits from the user's own images with a trained model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..layout import IMAGE_PREDICTIONS_FILE, REPORTS_DIR
from ..modelfile import TRAIN_FIRST, ModelError

# NumPy, Pillow (handwriting), pandas and scikit-learn (evaluation, prepare) and Keras are imported where they
# are used: `digitlib predict` with no finished model says so before paying for them.

if TYPE_CHECKING:
    import keras
    import numpy as np

    from ..rundir import FinishedModel
    from .abstention import Detector


class ReadDigit:
    """What ten `probabilities` say: the digit read and how sure. Each reading of a picture has it (a prediction,
    a number's digit, a drawing's reading)."""

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def probability(self) -> float:
        return float(self.probabilities.max())


# Where a reading looks at a prepared picture, in pixels (rows down, columns right): as prepared, then moved by one
# pixel each way. A hand's digit, centred by its mass, sits a pixel or so off where an MNIST digit of that shape
# would; averaging the five readings asks less of that centring.
READ_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
PROBABILITY_SUM_TOLERANCE = 1e-3  # a softmax's ten outputs add up to 1 within float32's rounding


def read_digits(model: keras.Model, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each reading of a user's picture (a prediction, a number's digit, a drawing): its prepared digits ((N, 28,
    28) uint8, as :func:`digitlib.predict.handwriting.mnist_style` gives them) broadened where their lines are
    hairlines (:func:`digitlib.predict.handwriting.broadened`), then read (:func:`read_probabilities`). Returns the
    digits as the model reads them ((N, 28, 28) uint8: what pages show) and the (N, 10) probabilities. The
    not-a-digit detector scores the digits as given."""
    from ..train.prepare import prepare_images
    from .handwriting import broadened

    seen = broadened(digits)
    return seen, read_probabilities(model, prepare_images(seen))


def read_probabilities(model: keras.Model, prepared: np.ndarray) -> np.ndarray:
    """(N, 10): what `model` reads in prepared pictures (N, 28, 28, 1): the mean of its probabilities for the
    picture at each of :data:`READ_SHIFTS`, the pixels moved in from outside blank. One batch of all the views.
    :func:`read_digits` reads a user's digits so, once their hairlines are broadened."""
    import numpy as np
    from scipy import ndimage

    from ..train.evaluation import predict_probabilities

    prepared = np.asarray(prepared)
    if not len(prepared):
        return predict_probabilities(model, prepared)
    views = np.concatenate([ndimage.shift(prepared, (0, rows, columns, 0), order=0, mode="constant")
                            for rows, columns in READ_SHIFTS])
    probabilities = predict_probabilities(model, views).reshape(len(READ_SHIFTS), len(prepared), -1).mean(axis=0)
    if not np.isfinite(probabilities).all():
        raise ModelError("the model reads NaN or infinite probabilities (its training diverged, or its weights are "
                         "broken): read with another model")
    if np.abs(probabilities.sum(axis=1) - 1).max() > PROBABILITY_SUM_TOLERANCE:
        raise ModelError("the model's outputs are not probabilities (they do not add up to 1: a model without its "
                         "softmax?): read with another model")
    return probabilities


@dataclass(frozen=True)
class Prediction(ReadDigit):
    """One image's answer: the digit, its probability and the ten probabilities, or why it failed; and the
    true digit when the file's name carries one (:func:`digitlib.predict.handwriting.label_in_name`), else None.
    `score` is the not-a-digit detector's (:mod:`digitlib.predict.abstention`; None without one) and `abstained`
    says it was past the detector's threshold: the picture is probably not a digit."""

    path: Path
    probabilities: np.ndarray | None = None  # (10,)
    digit_image: np.ndarray | None = field(default=None, repr=False)  # (28, 28) uint8, as the model saw it
    error: str | None = None
    label: int | None = None
    score: float | None = None
    abstained: bool = False

    @property
    def correct(self) -> bool | None:
        """Whether the digit read is the label; None without a label, or when the image could not be read."""
        return None if self.label is None or self.error else self.digit == self.label

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        order = (-self.probabilities).argsort(kind="stable")[:k]
        return [(int(d), float(self.probabilities[d])) for d in order]

    def as_dict(self, k: int = 3) -> dict:
        from ..untrusted import valid_unicode

        labelled = {} if self.label is None else {"label": self.label}
        if self.error:
            return {"path": valid_unicode(self.path), "error": self.error, **labelled}
        return {"path": valid_unicode(self.path), "digit": self.digit, "probability": round(self.probability, 6),
                "top": [{"digit": d, "probability": round(p, 6)} for d, p in self.top(k)],
                "score": json_score(self.score), "abstained": self.abstained,
                **({**labelled, "correct": self.correct} if labelled else {})}


def json_score(score: float | None) -> float | None:
    """A not-a-digit score as ``--json`` gives it: six significant digits (the scores run from hundredths to tens,
    so a fixed number of decimals would blur the small ones); None without a detector."""
    return None if score is None else float(f"{score:.6g}")


@dataclass(frozen=True)
class LabelledAccuracy:
    """How many of the images whose names carry a label were read right."""

    correct: int
    labelled: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.labelled

    def __str__(self) -> str:
        return (f"{self.correct} of {self.labelled} images whose names carry a label read right "
                f"({self.accuracy:.1%})")


def labelled_accuracy(predictions: list[Prediction]) -> LabelledAccuracy | None:
    """The accuracy over the readable images whose file names carry their digit; None when none does."""
    judged = [p.correct for p in predictions if p.correct is not None]
    return LabelledAccuracy(correct=sum(judged), labelled=len(judged)) if judged else None


# What the prediction notebook's page shows of many images: each figure row and styled table row costs time and
# memory (2,000 images, one figure row each, had not finished after 15 minutes, at 6 to 9 GB), while
# predictions.json keeps every reading.
SHOWN_PICTURES = 20
SHOWN_ROWS = 100


@dataclass(frozen=True)
class Shown:
    """The predictions a page shows, in their order, out of `total` (of the readable ones, with `readable_only`):
    the first `first`, then the rest's most doubtful (:func:`shown_predictions`)."""

    predictions: list[Prediction]
    total: int
    first: int
    readable_only: bool = False

    @property
    def left_out(self) -> int:
        return self.total - len(self.predictions)

    def __str__(self) -> str:
        images = ("image" if self.total == 1 else "images") + (" read" if self.readable_only else "")
        if not self.left_out:
            return f"all {self.total:,} {images}"
        doubts = "read wrong, or read least surely" if self.readable_only else \
            "unreadable, read wrong, or read least surely"
        return (f"{len(self.predictions):,} of the {self.total:,} {images} ({self.left_out:,} left out): the first "
                f"{self.first:,}, then the {len(self.predictions) - self.first:,} most worth a second look ({doubts})")


def shown_predictions(predictions: list[Prediction], limit: int, readable_only: bool = False) -> Shown:
    """At most `limit` of `predictions` (only those read, with `readable_only`), for a page to show, in their
    order: all of them when they fit; else the first half of `limit` and, of the others, those most worth a
    second look: unreadable files, then labelled images read wrong, then the least sure readings."""
    if limit < 2:
        raise ValueError(f"limit must be at least 2 (the first and the most doubtful), got {limit}")
    candidates = [p for p in predictions if p.error is None] if readable_only else list(predictions)
    if len(candidates) <= limit:
        return Shown(candidates, len(candidates), len(candidates), readable_only)
    first = limit // 2

    def doubt(index: int) -> tuple[int, float]:
        prediction = candidates[index]
        if prediction.error is not None:
            return 0, 0.0
        return (1 if prediction.correct is False else 2), prediction.probability

    doubtful = sorted(range(first, len(candidates)), key=doubt)[:limit - first]  # stable: ties in their order
    return Shown([candidates[i] for i in [*range(first), *sorted(doubtful)]], len(candidates), first,
                 readable_only)


def default_model(reports_dir: str | os.PathLike = REPORTS_DIR) -> FinishedModel:
    """The finished model to read with when none is named: the best in `reports_dir`
    (:func:`digitlib.rundir.best_model`: the most capable model, then the best validation accuracy). Its
    ``path`` is the model file, and it prints as ``strong, run 20261125-..., validation accuracy 99.72%``.
    A :class:`ModelError` says why no run qualified and what to do."""
    from ..rundir import NoFinishedModel, best_model

    try:
        return best_model(reports_dir)
    except NoFinishedModel as why:
        raise ModelError(f"{why}; {TRAIN_FIRST} to train a model on the whole training set, or point --model "
                         "(in the notebook: model_path) at a saved model.keras") from None


def predict_images(model: keras.Model, inputs: str | os.PathLike | list[str | os.PathLike],
                   detector: Detector | None = None) -> list[Prediction]:
    """Preprocess every image MNIST-style and predict them together, in batches; failures are kept, in order.
    With a `detector` (:func:`digitlib.predict.abstention.read_detector`), each reading carries its not-a-digit
    score and whether it is past the threshold.
    Each file is read once, where it is first named, however often `inputs` name it
    (:func:`digitlib.predict.handwriting.find_images`). A file whose name carries its digit (``photo_label4.jpg``:
    :func:`digitlib.predict.handwriting.label_in_name`) gets it as its label."""
    import numpy as np

    from ..train.prepare import prepare_images
    from .handwriting import ImageError, find_images, in_input_order, label_in_name, load_digit

    paths, problems = find_images([inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs))
    results: list[Prediction] = [Prediction(path=path, error=message) for path, message, _ in problems]
    digits, readable = [], []
    for path in paths:
        try:
            digits.append(load_digit(path))
            readable.append(path)
        except ImageError as error:
            results.append(Prediction(path=path, error=str(error), label=label_in_name(path)))
    if digits:
        stacked = np.stack(digits)
        seen, probabilities = read_digits(model, stacked)
        scores = [None] * len(stacked) if detector is None else detector.scores(model, prepare_images(stacked)).tolist()
        results += [Prediction(path=p, probabilities=pr, digit_image=d, label=label_in_name(p), score=sc,
                               abstained=sc is not None and bool(detector.refuses(sc)))
                    for p, pr, d, sc in zip(readable, probabilities, seen, scores)]
    return in_input_order(results, paths, problems)


def save_predictions(output_dir: str | os.PathLike, predictions: list[Prediction], top: int = 3) -> Path:
    """predictions.json in `output_dir`, written atomically, as any JSON reader reads it (a file name's bytes that are
    not UTF-8 escaped, as \\xe9: :func:`digitlib.atomic.write_json`)."""
    from ..atomic import write_json

    return write_json(Path(output_dir) / IMAGE_PREDICTIONS_FILE, [p.as_dict(top) for p in predictions])
