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


def test_each_digits_title_sits_just_above_it_and_below_the_next_row(images, evaluation):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = sample_predictions_figure(images, evaluation, count=20, columns=10)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    shown = [axes for axes in figure.axes if axes.get_title()]
    assert all(axes._autotitlepos is False for axes in shown)  # placed at creation: matplotlib skips its search
    for axes in shown:
        title, box = axes.title.get_window_extent(renderer), axes.get_window_extent(renderer)
        assert box.y1 <= title.y0 <= box.y1 + 10  # pixels: right above its digit
    first_row, second_row = shown[0].get_window_extent(renderer), shown[10].title.get_window_extent(renderer)
    assert second_row.y1 < first_row.y0  # a title of the second row stays under the first row's digits


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


def test_each_figure_says_what_it_shows_with_its_own_numbers(images, evaluation):
    assert confusion_matrix_figure(evaluation).alt == (
        "Confusion matrix of 40 test images: 4 mistakes, most often 0 read as 1 (once).")
    assert sample_predictions_figure(images, evaluation, count=40).alt == (
        "40 test digits drawn at random, each titled with its true and predicted digit: 36 of 40 right; "
        "wrong: 0 read as 1, 1 read as 2, 2 read as 3 and 3 read as 4.")
    assert confident_mistakes_figure(images, evaluation, count=2).alt.startswith(
        "The 2 most confident of 4 mistakes on 40 test images")
    assert confident_mistakes_figure(images, evaluation).alt.endswith(
        "the surest: a 0 read as 1 with 99% confidence.")
    perfect = evaluate_predictions(np.eye(10)[np.arange(40) % 10], np.arange(40) % 10)
    assert confusion_matrix_figure(perfect).alt == "Confusion matrix of 40 test images: no mistakes."
    assert confident_mistakes_figure(images, perfect).alt.startswith("No mistakes on the 40 test images")


def test_the_most_frequent_confusion_is_named_with_its_count():
    labels = np.array([9, 9, 9, 4, 7, 1])
    probabilities = np.eye(10)[[4, 4, 9, 4, 1, 1]]
    assert confusion_matrix_figure(evaluate_predictions(probabilities, labels)).alt == (
        "Confusion matrix of 6 test images: 3 mistakes, most often 9 read as 4 (2 times).")


def test_the_learning_curves_say_the_final_and_best_validation_accuracy():
    history = {"loss": [0.5, 0.3, 0.2], "accuracy": [0.8, 0.9, 0.95],
               "val_loss": [0.4, 0.35, 0.3], "val_accuracy": [0.85, 0.92, 0.9]}
    assert learning_curves_figure(history).alt == (
        "Loss and accuracy per epoch over 3 epochs, training and validation: validation accuracy 90.00% after the "
        "last epoch, best 92.00% at epoch 2; training accuracy 95.00%, loss 0.2000.")
    assert learning_curves_figure({"loss": [0.5], "accuracy": [0.8]}).alt == (
        "Loss and accuracy per epoch over 1 epoch, training only: training accuracy 80.00% and loss 0.5000 after the "
        "last epoch.")
    nan = float("nan")  # what Keras records for a diverged epoch
    diverged = {"loss": [0.5, nan, nan], "accuracy": [0.8, 0.1, 0.1], "val_accuracy": [0.85, nan, nan]}
    assert "best 85.00% at epoch 1" in learning_curves_figure(diverged).alt  # not the first NaN
    assert "not a number at any epoch" in learning_curves_figure({**diverged, "val_accuracy": [nan, nan, nan]}).alt


def test_a_figure_without_alt_text_is_refused():
    from digitlib.report.figures import DescribedFigure

    for empty in ("", "  ", None):
        with pytest.raises(ValueError, match="alt text"):
            DescribedFigure(empty)


def test_shown_in_a_notebook_the_figure_carries_its_alt_text_beside_the_png(evaluation):
    """As `%matplotlib inline` sets IPython up: the PNG from matplotlib's formatter, the alt from the figure."""
    from types import SimpleNamespace

    from IPython.core.formatters import DisplayFormatter
    from IPython.core.pylabtools import select_figure_formats

    shell = SimpleNamespace(display_formatter=DisplayFormatter())
    select_figure_formats(shell, {"png"})
    figure = confusion_matrix_figure(evaluation)
    data, metadata = shell.display_formatter.format(figure)
    assert data["image/png"]  # base64 text or bytes, as the formatter gives it
    assert metadata == {"image/png": {"alt": figure.alt}}
    assert shell.display_formatter.format(Figure())[1] == {}  # a plain Figure has none: the report warns
