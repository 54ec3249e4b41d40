"""How much to trust a probability: calibration of a model's predictions on the test set.

A model is calibrated when, of the images it reads with 90% confidence, about 90% are right. The
reliability diagram bins the test images by the confidence of their prediction and sets each bin's
accuracy against its mean confidence; the expected calibration error (ECE) is the gap between the two,
weighted by how many images each bin holds. The negative log-likelihood and the Brier score judge the
whole probability vector, not just its top entry.

A network trained with cross-entropy is often over-confident. Temperature scaling (Guo et al., 2017)
divides the log-probabilities by one number T fitted on the validation split (never on the test set)
and renormalizes: the predicted digits and the accuracy stay the same, only the confidences change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.metrics import brier_score_loss, log_loss

from ..train.evaluation import DIGITS, Evaluation, evaluate_predictions
from .figures import DescribedFigure

BINS = 15  # equal-width confidence bins, as in Guo et al. and most reports of ECE
_TINY = 1e-12  # probabilities of exactly 0 would make log-probabilities infinite


def reliability_bins(evaluation: Evaluation, bins: int = BINS) -> pd.DataFrame:
    """Per equal-width confidence bin: its edges, how many test images fell in it, their mean
    confidence and their accuracy (NaN for an empty bin)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence, right = evaluation.confidence, evaluation.predictions == evaluation.labels
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)  # (lower, upper]
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=right, minlength=bins) / count
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count,
                         "confidence": mean_confidence, "accuracy": accuracy})


def expected_calibration_error(evaluation: Evaluation, bins: int = BINS) -> float:
    """Σ over bins of (share of images in the bin) × |accuracy − mean confidence|: 0 for a calibrated model."""
    table = reliability_bins(evaluation, bins)
    filled = table[table["count"] > 0]
    return float(np.sum(filled["count"] / table["count"].sum() * (filled["accuracy"] - filled["confidence"]).abs()))


def _summing_to_one(evaluation: Evaluation) -> np.ndarray:
    """The probabilities renormalized: a float32 softmax sums to 1 only within rounding, which
    scikit-learn's metrics warn about."""
    return evaluation.probabilities / evaluation.probabilities.sum(axis=1, keepdims=True)


def negative_log_likelihood(evaluation: Evaluation) -> float:
    """Mean −log p(true digit): the test loss, lower is better (scikit-learn's log loss)."""
    return float(log_loss(evaluation.labels, _summing_to_one(evaluation), labels=DIGITS))


def brier_score(evaluation: Evaluation) -> float:
    """Mean over images of Σ_k (p_k − [k is the true digit])²: 0 is perfect, 2 the worst (scikit-learn's)."""
    return float(brier_score_loss(evaluation.labels, _summing_to_one(evaluation), labels=DIGITS,
                                  scale_by_half=False))


def with_temperature(evaluation: Evaluation, temperature: float) -> Evaluation:
    """The same predictions with their log-probabilities divided by `temperature` (> 1 softens them)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.log(np.clip(evaluation.probabilities, _TINY, 1.0)) / temperature
    return evaluate_predictions(np.exp(log_softmax(logits, axis=1)), evaluation.labels)


def fit_temperature(validation: Evaluation) -> float:
    """The temperature that minimizes the negative log-likelihood on the validation predictions."""
    result = minimize_scalar(lambda log_t: negative_log_likelihood(with_temperature(validation, np.exp(log_t))),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Calibration:
    """A model's calibration on the test set, and after temperature scaling when it had a validation split."""

    evaluation: Evaluation
    bins: int = BINS
    temperature: float | None = None  # fitted on the validation split; None without one

    @property
    def ece(self) -> float:
        return expected_calibration_error(self.evaluation, self.bins)

    @property
    def nll(self) -> float:
        return negative_log_likelihood(self.evaluation)

    @property
    def brier(self) -> float:
        return brier_score(self.evaluation)

    @property
    def scaled(self) -> Calibration | None:
        """The test predictions after temperature scaling (None when no temperature was fitted)."""
        if self.temperature is None:
            return None
        return Calibration(with_temperature(self.evaluation, self.temperature), self.bins)

    def summary(self) -> dict:
        """The numbers metrics.json keeps (its "calibration" entry)."""
        scaled = self.scaled
        return {"ece": self.ece, "nll": self.nll, "brier": self.brier, "bins": self.bins,
                "temperature": self.temperature, "ece_after_temperature": scaled.ece if scaled else None}

    def table(self) -> pd.DataFrame:
        """ECE, negative log-likelihood and Brier score, as trained and after temperature scaling."""
        rows = {"as trained": self}
        if self.scaled is not None:
            rows[f"temperature {self.temperature:.2f}"] = self.scaled
        return pd.DataFrame({name: {"ECE": f"{c.ece:.2%}", "negative log-likelihood": f"{c.nll:.4f}",
                                    "Brier score": f"{c.brier:.4f}"} for name, c in rows.items()}).T

    def meaning(self, level: float = 0.9, width: float = 0.05) -> str:
        """What a probability of `level` from this model means in practice, in one or two sentences."""
        confidence = self.evaluation.confidence
        right = self.evaluation.predictions == self.evaluation.labels
        near = np.abs(confidence - level) <= width
        sure = confidence >= 0.99
        if near.any():
            said = (f"Of the {int(near.sum()):,} test images this model read with {level - width:.0%}–"
                    f"{level + width:.0%} confidence, {right[near].mean():.1%} were right")
        else:
            said = f"No test image was read with {level - width:.0%}–{level + width:.0%} confidence"
        said += (f"; it was at least 99% sure of {int(sure.sum()):,} of the {len(right):,} images "
                 f"({sure.mean():.1%})" + (f" and right on {right[sure].mean():.2%} of those." if sure.any() else "."))
        return said

    def describe(self) -> str:
        """The report's summary: calibration in numbers, what 90% means, and what temperature scaling did."""
        lines = [f"Expected calibration error {self.ece:.2%}, negative log-likelihood {self.nll:.4f}, "
                 f"Brier score {self.brier:.4f} on {len(self.evaluation.labels):,} test images.", self.meaning()]
        if self.temperature is None:
            lines.append("No temperature was fitted: this run held out no validation split, and the test set "
                         "is never used to fit anything.")
        else:
            verb = "softens" if self.temperature > 1 else "sharpens"
            lines.append(f"A temperature of {self.temperature:.2f}, fitted on the validation split, {verb} the "
                         f"probabilities: expected calibration error {self.ece:.2%} → {self.scaled.ece:.2%}; "
                         "the predicted digits, and so the accuracy, do not change.")
        return "\n".join(lines)


def calibrate(test: Evaluation, validation: Evaluation | None = None, bins: int = BINS) -> Calibration:
    """Calibration of the test predictions; with validation predictions, a temperature fitted on them."""
    fitted = fit_temperature(validation) if validation is not None and len(validation.labels) else None
    return Calibration(test, bins, fitted)


def calibrate_model(model, splits, test: Evaluation, bins: int = BINS) -> Calibration:
    """Calibration of a trained model's test predictions `test`, with a temperature fitted on its
    validation split when the run held one out (the seed's recipe holds out none)."""
    from ..train.evaluation import evaluate_model

    validation = evaluate_model(model, splits.x_val, splits.y_val) if len(splits.y_val) else None
    return calibrate(test, validation, bins)


def _reliability_alt(calibration: Calibration) -> str:
    """'Reliability diagram of 10,000 test images in 15 confidence bins: expected calibration error 0.45% as
    trained, 0.21% after temperature 1.31; 9,812 (98.1%) read with at least 99% confidence, 99.90% of them right.'"""
    images, confidence = len(calibration.evaluation.labels), calibration.evaluation.confidence
    right = calibration.evaluation.predictions == calibration.evaluation.labels
    said = (f"Reliability diagram of {images:,} test images in {calibration.bins} confidence bins, beside how many "
            f"images each bin holds: expected calibration error {calibration.ece:.2%} as trained")
    if calibration.scaled is not None:
        said += f", {calibration.scaled.ece:.2%} after temperature {calibration.temperature:.2f}"
    sure = confidence >= 0.99
    said += f"; {int(sure.sum()):,} ({sure.mean():.1%}) read with at least 99% confidence"
    return said + (f", {right[sure].mean():.2%} of them right." if sure.any() else ".")


def reliability_figure(calibration: Calibration) -> DescribedFigure:
    """The reliability diagram (accuracy against confidence per bin, the diagonal is perfect calibration)
    next to how many test images fall in each bin; after temperature scaling too, when there is one."""
    figure = DescribedFigure(_reliability_alt(calibration), figsize=(11, 4.2), layout="constrained")
    diagram, histogram = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    diagram.plot([0, 1], [0, 1], ":", color="#8c959f", label="perfectly calibrated")
    curves = [("as trained", calibration, "#0969da", "o-")]
    if calibration.scaled is not None:
        curves.append((f"temperature {calibration.temperature:.2f}", calibration.scaled, "#bf8700", "s--"))
    for name, each, color, style in curves:
        table = reliability_bins(each.evaluation, each.bins)
        filled = table[table["count"] > 0]
        diagram.plot(filled["confidence"], filled["accuracy"], style, color=color, markersize=4,
                     label=f"{name} (ECE {each.ece:.2%})")
        histogram.bar(table["lower"], table["count"], width=1 / each.bins, align="edge", alpha=0.6,
                      color=color, label=name)
    low = max(0.0, min(0.5, float(calibration.evaluation.confidence.min())))
    diagram.set(xlim=(low, 1.0), ylim=(low, 1.0), xlabel="confidence of the prediction",
                ylabel="accuracy", title="Reliability: accuracy against confidence")
    diagram.grid(alpha=0.3)
    diagram.legend(fontsize=8, loc="upper left")
    histogram.set(yscale="log", xlabel="confidence of the prediction", ylabel="test images (log scale)",
                  title="How sure the model is")
    histogram.legend(fontsize=8, loc="upper left")
    return figure
