import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report, log_loss

from digitlib import evaluate_model, evaluate_predictions, per_class_metrics


@pytest.fixture
def random_evaluation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 10))
    labels = rng.integers(0, 10, size=300)
    logits[np.arange(300), labels] += 2.0  # a model better than chance
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return evaluate_predictions(probabilities, labels)


def test_accuracy_and_loss_agree_with_scikit_learn(random_evaluation):
    e = random_evaluation
    assert e.accuracy == pytest.approx(accuracy_score(e.labels, e.predictions))
    assert e.loss == pytest.approx(log_loss(e.labels, e.probabilities, labels=range(10)), rel=1e-9)


def test_per_class_metrics_agree_with_scikit_learn(random_evaluation):
    table = per_class_metrics(random_evaluation)
    report = classification_report(random_evaluation.labels, random_evaluation.predictions, output_dict=True)
    assert list(table.index) == list(range(10))
    for digit in range(10):
        row = report[str(digit)]
        assert table.loc[digit, "precision"] == pytest.approx(row["precision"])
        assert table.loc[digit, "recall"] == pytest.approx(row["recall"])
        assert table.loc[digit, "f1"] == pytest.approx(row["f1-score"])
        assert table.loc[digit, "support"] == row["support"]


def test_mistakes_are_the_wrong_ones_most_confident_first(random_evaluation):
    e = random_evaluation
    mistakes = e.mistakes
    assert set(mistakes) == set(np.flatnonzero(e.predictions != e.labels))
    assert np.all(np.diff(e.confidence[mistakes]) <= 0)


@pytest.mark.parametrize("probabilities, labels, message", [
    (np.ones((3, 9)) / 9, np.zeros(3, int), r"shape \(N, 10\)"),
    (np.ones((3, 10)) / 10, np.zeros(2, int), "expected 3 labels"),
    (np.ones((0, 10)), np.zeros(0, int), "empty test set"),
])
def test_bad_shapes_are_refused(probabilities, labels, message):
    with pytest.raises(ValueError, match=message):
        evaluate_predictions(probabilities, labels)


def test_evaluate_model_agrees_with_keras_evaluate(trained, small_splits):
    model, _ = trained
    evaluation = evaluate_model(model, small_splits.x_test, small_splits.y_test)
    loss, accuracy = model.evaluate(small_splits.x_test, small_splits.y_test, verbose=0)
    assert evaluation.accuracy == pytest.approx(accuracy, abs=1e-6)
    assert evaluation.loss == pytest.approx(loss, rel=1e-4)


def test_features_of_many_networks_read_without_a_retracing_warning(caplog):
    """An ensemble's not-a-digit score reads each member through its own feature model: TensorFlow counts those
    predict functions' tracings together and would warn about "retracing" into the prediction report."""
    import logging

    from digitlib import build_model
    from digitlib.train.evaluation import layer_features, predict_probabilities

    images = np.zeros((3, 28, 28, 1), np.float32)
    with caplog.at_level(logging.WARNING):
        for _ in range(6):
            network = build_model("fast")
            layer_features(network, images)
            predict_probabilities(network, images)
        logging.getLogger("tensorflow").warning("another warning")  # the others still come through
    assert [record.getMessage() for record in caplog.records if "tensorflow" in record.name] == ["another warning"]
