"""A run that learned nothing, or diverged, says so in one sentence and names the parameter to change."""

import math

import pytest

from digitlib.report.diagnosis import NEAR_CHANCE, diagnose, diagnose_metrics, predicted_digits

HEALTHY = {"loss": [0.35, 0.08, 0.05], "accuracy": [0.89, 0.975, 0.984],
           "val_loss": [0.07, 0.05, 0.04], "val_accuracy": [0.98, 0.985, 0.99]}


def test_a_healthy_run_has_nothing_to_say():
    assert diagnose(0.992, HEALTHY) is None
    assert diagnose(0.992, HEALTHY, predicted={0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) is None


def test_near_chance_says_train_longer_or_on_more_images():
    """The issue's run: 1 epoch on 3,000 images, 12.6% test accuracy, every digit read as a 1."""
    message = diagnose(0.126, {"loss": [2.29], "accuracy": [0.11]}, predicted={1},
                       parameters={"epochs": 1, "train_limit": 3000})
    assert message.count(".") <= 2 and "\n" not in message  # one sentence
    assert "12.6%" in message and "chance" in message and "every test image was read as 1" in message
    assert "-p epochs" in message and "train_limit" in message


def test_near_chance_without_parameters_still_names_them():
    message = diagnose(0.3, {"loss": [2.0, 1.9], "accuracy": [0.2, 0.3]})
    assert "near chance" in message and "-p epochs" in message and "train_limit" in message


def test_the_threshold_sits_halfway_between_chance_and_what_any_learning_model_reaches():
    assert NEAR_CHANCE == 0.5
    assert diagnose(0.49, HEALTHY) is not None and diagnose(0.5, HEALTHY) is None


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_is_divergence_and_asks_for_a_lower_learning_rate(bad):
    message = diagnose(0.098, {"loss": [2.3, bad, bad], "accuracy": [0.1, 0.1, 0.1]},
                       parameters={"learning_rate": 0.05})
    assert "diverged" in message and "epoch 2" in message and "-p learning_rate 0.005" in message


def test_a_loss_that_grows_is_divergence_even_when_accuracy_looks_fine():
    message = diagnose(0.93, {"loss": [0.4, 0.9, 1.6], "accuracy": [0.9, 0.8, 0.7]})
    assert "grew" in message and "learning_rate" in message


def test_a_growing_validation_loss_alone_is_not_divergence():
    history = {**HEALTHY, "val_loss": [0.04, 0.05, 0.07]}  # overfitting a little, not diverging
    assert diagnose(0.99, history) is None


def test_one_digit_for_every_image_is_said_even_above_the_threshold():
    message = diagnose(0.6, HEALTHY, predicted={7})
    assert "every test image was read as 7" in message


def test_predicted_digits_from_per_class_precision_and_recall():
    # 100 images, 12 of them ones, all read as 1: recall 1 for "1", precision 0.12; the others 0
    per_class = {str(d): {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 10} for d in range(10)}
    per_class["1"] = {"precision": 0.12, "recall": 1.0, "f1": 0.21, "support": 12}
    assert predicted_digits(per_class, images=100) == {1}
    per_class["1"]["precision"] = 0.5  # read as 1 only 24 times: others were read as something else
    assert predicted_digits(per_class, images=100) is None


def test_diagnose_metrics_reads_a_runs_metrics_json():
    metrics = {"parameters": {"epochs": 1, "train_limit": 3000, "learning_rate": None},
               "test": {"accuracy": 0.126, "images": 100},
               "per_class": {str(d): {"precision": 0.126 if d == 1 else 0.0, "recall": 1.0 if d == 1 else 0.0,
                                      "f1": 0.0, "support": 13 if d == 1 else 10} for d in range(10)},
               "training": {"history": {"loss": [2.29], "accuracy": [0.11]}}}
    metrics["test"]["images"] = 103
    metrics["per_class"]["1"]["precision"] = 13 / 103
    assert "every test image was read as 1" in diagnose_metrics(metrics)
    assert diagnose_metrics(None) is None
    assert diagnose_metrics({"test": {"accuracy": 0.99}, "training": {"history": HEALTHY}}) is None
