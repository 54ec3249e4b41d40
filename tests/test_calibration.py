"""Calibration: ECE, NLL, Brier and temperature scaling, checked on synthetic models whose truth is known."""

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from digitlib.report.calibration import (
    brier_score,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    reliability_figure,
    with_temperature,
)
from digitlib.train.evaluation import evaluate_predictions


def calibrated_model(count=50_000, seed=0):
    """Predictions whose confidence is exactly the chance of being right: each image is right with the
    probability the model gives its top digit; the rest is spread evenly over the other nine."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    confidence = rng.uniform(0.2, 1.0, count)
    right = rng.uniform(size=count) < confidence
    predicted = np.where(right, labels, (labels + rng.integers(1, 10, count)) % 10)
    probabilities = np.repeat(((1 - confidence) / 9)[:, None], 10, axis=1)
    probabilities[np.arange(count), predicted] = confidence
    return evaluate_predictions(probabilities, labels)


def test_a_perfectly_calibrated_model_has_an_ece_near_zero():
    assert expected_calibration_error(calibrated_model()) < 0.01


def test_an_overconfident_model_has_the_ece_its_gap_says():
    # Every prediction 99% sure, right 80% of the time: one bin, a gap of 0.19.
    labels = np.arange(1000) % 10
    predicted = np.where(np.arange(1000) % 5 == 0, (labels + 1) % 10, labels)
    probabilities = np.full((1000, 10), 0.01 / 9)
    probabilities[np.arange(1000), predicted] = 0.99
    evaluation = evaluate_predictions(probabilities, labels)
    assert expected_calibration_error(evaluation) == pytest.approx(0.19)
    table = reliability_bins(evaluation)
    assert table["count"].sum() == 1000 and table["count"].iloc[-1] == 1000


def test_nll_and_brier_match_their_definitions():
    evaluation = calibrated_model(2000, seed=1)
    truth = np.eye(10)[evaluation.labels]
    assert brier_score(evaluation) == pytest.approx(np.mean(np.sum((evaluation.probabilities - truth) ** 2, axis=1)))
    picked = evaluation.probabilities[np.arange(2000), evaluation.labels]
    assert negative_log_likelihood(evaluation) == pytest.approx(-np.mean(np.log(picked)), rel=1e-6)
    perfect = evaluate_predictions(truth, evaluation.labels)
    assert brier_score(perfect) == pytest.approx(0) and expected_calibration_error(perfect) == pytest.approx(0)


def test_temperature_scaling_keeps_the_predictions_and_undoes_a_known_sharpening():
    calibrated = calibrated_model(20_000, seed=2)
    assert np.allclose(with_temperature(calibrated, 1.0).probabilities, calibrated.probabilities)
    sharpened = with_temperature(calibrated, 0.5)  # as over-confident as a network trained too long
    assert (sharpened.predictions == calibrated.predictions).all()
    assert expected_calibration_error(sharpened) > 0.1
    assert fit_temperature(sharpened) == pytest.approx(2.0, rel=0.05)
    fitted = calibrate(sharpened, validation=sharpened)
    assert fitted.scaled.ece < 0.02 and fitted.scaled.evaluation.accuracy == sharpened.accuracy
    with pytest.raises(ValueError, match="positive"):
        with_temperature(calibrated, 0)


def test_a_run_without_a_validation_split_fits_no_temperature_and_says_so():
    calibration = calibrate(calibrated_model(3000), validation=None)
    assert calibration.temperature is None and calibration.scaled is None
    assert "No temperature was fitted" in calibration.describe()
    assert list(calibration.table().index) == ["as trained"]


def test_the_summary_is_what_metrics_json_allows():
    schema = json.loads((Path(__file__).parent.parent / "digitlib" / "metrics.schema.json").read_text())
    for validation in (None, calibrated_model(3000, seed=3)):
        summary = calibrate(calibrated_model(3000), validation).summary()
        json.dumps(summary)
        jsonschema.validate(summary, schema["properties"]["calibration"])


def test_what_ninety_percent_means_counts_the_images_near_it():
    evaluation = calibrated_model(20_000, seed=4)
    sentence = calibrate(evaluation).meaning()
    near = np.abs(evaluation.confidence - 0.9) <= 0.05
    assert f"{int(near.sum()):,} test images" in sentence
    assert f"{(evaluation.predictions == evaluation.labels)[near].mean():.1%} were right" in sentence


def test_the_reliability_figure_shows_both_curves_when_a_temperature_was_fitted():
    evaluation = calibrated_model(3000, seed=5)
    figure = reliability_figure(calibrate(with_temperature(evaluation, 0.5), evaluation))
    diagram, histogram = figure.axes
    assert len(diagram.get_lines()) == 3  # the diagonal, as trained, after temperature
    assert len(histogram.patches) == 2 * 15
    calibration = calibrate(with_temperature(evaluation, 0.5), evaluation)
    sure = calibration.evaluation.confidence >= 0.99
    assert figure.alt == (
        "Reliability diagram of 3,000 test images in 15 confidence bins, beside how many images each bin holds: "
        f"expected calibration error {calibration.ece:.2%} as trained, {calibration.scaled.ece:.2%} after "
        f"temperature {calibration.temperature:.2f}; {int(sure.sum()):,} ({sure.mean():.1%}) read with at least 99% "
        "confidence" + (f", {(calibration.evaluation.predictions == calibration.evaluation.labels)[sure].mean():.2%} "
                        "of them right." if sure.any() else "."))


def test_a_float32_softmax_is_scored_without_warnings():
    # A network's probabilities sum to 1 only within float32 rounding; scikit-learn warns about that.
    import warnings

    logits = np.random.default_rng(6).normal(size=(500, 10)).astype(np.float32) * 5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    evaluation = evaluate_predictions(probabilities.astype(np.float32), np.arange(500) % 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrate(evaluation, evaluation).describe()
