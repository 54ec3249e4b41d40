import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from digitlib import (
    confident_mistakes_figure,
    confusion_matrix_figure,
    evaluate_predictions,
    learning_curves_figure,
    sample_predictions_figure,
)


@pytest.fixture
def evaluation():
    labels = np.arange(40) % 10
    predictions = labels.copy()
    predictions[:4] = (labels[:4] + 1) % 10  # four mistakes
    probabilities = np.full((40, 10), 0.01)
    probabilities[np.arange(40), predictions] = 0.91
    probabilities[0, predictions[0]] = 0.99  # the most confident mistake
    return evaluate_predictions(probabilities, labels)


@pytest.fixture
def images():
    return np.random.default_rng(0).random((40, 28, 28, 1), dtype=np.float32)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_confusion_matrix_counts_every_image(evaluation):
    figure = confusion_matrix_figure(evaluation)
    axes = figure.axes[0]
    counts = [int(text.get_text()) for text in axes.texts]
    assert len(counts) == 100 and sum(counts) == 40
    assert "4 wrong" in axes.get_title()
    assert _png(figure).startswith(b"\x89PNG")


def test_sample_predictions_mark_the_wrong_ones(images, evaluation):
    figure = sample_predictions_figure(images, evaluation, count=40)
    titles = [a.get_title() for a in figure.axes if a.get_title()]
    assert len(titles) == 40 and sum("✗" in t for t in titles) == 4
    assert "4 of 40 wrong" in figure.get_suptitle()
    assert _png(figure).startswith(b"\x89PNG")


def test_sample_predictions_need_matching_images(images, evaluation):
    with pytest.raises(ValueError, match="39 images but 40"):
        sample_predictions_figure(images[:39], evaluation)


def test_confident_mistakes_come_first(images, evaluation):
    figure = confident_mistakes_figure(images, evaluation)
    titles = [a.get_title() for a in figure.axes if a.get_title()]
    assert len(titles) == 4 and titles[0] == "0 → 1 (99%)"
    assert _png(figure).startswith(b"\x89PNG")


def test_no_mistakes_is_said_plainly(images):
    perfect = evaluate_predictions(np.eye(10)[np.arange(40) % 10], np.arange(40) % 10)
    assert confident_mistakes_figure(images, perfect).get_suptitle() == "No mistakes on the test set"


def test_learning_curves_plot_training_and_validation():
    history = {"loss": [0.5, 0.3, 0.2], "accuracy": [0.8, 0.9, 0.95],
               "val_loss": [0.4, 0.35, 0.3], "val_accuracy": [0.85, 0.88, 0.9]}
    figure = learning_curves_figure(history)
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.lines] == ["training", "validation"]
    np.testing.assert_array_equal(accuracy_axes.lines[1].get_ydata(), history["val_accuracy"])
    assert _png(figure).startswith(b"\x89PNG")


def test_learning_curves_without_validation_and_with_bad_history():
    figure = learning_curves_figure({"loss": [0.5], "accuracy": [0.8]})
    assert len(figure.axes[0].lines) == 1
    with pytest.raises(ValueError, match="history has no 'accuracy'"):
        learning_curves_figure({"loss": [0.5]})
