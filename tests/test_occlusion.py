"""Occlusion sensitivity: what hiding part of a digit does to the predicted digit's probability."""

import numpy as np
import pytest

from conftest import model_matrix
from digitlib.report.occlusion import chosen_examples, occlusion_figure, occlusion_maps
from digitlib.train.evaluation import evaluate_predictions


class InkCounter:
    """A stand-in model whose belief in digit 1 grows with the ink in the image's top-left 10x10 corner:
    its answer depends on known pixels only, so the map must light up there and nowhere else."""

    def predict_on_batch(self, images):
        ink = images[:, :10, :10, 0].sum(axis=(1, 2))
        logits = np.zeros((len(images), 10))
        logits[:, 1] = ink / 10
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def digit_in_the_corner():
    image = np.zeros((1, 28, 28, 1), dtype=np.float32)
    image[0, 2:8, 2:8, 0] = 1.0
    return image


def test_hiding_blank_background_changes_nothing():
    maps = occlusion_maps(InkCounter(), digit_in_the_corner(), np.array([1]))
    assert maps.shape == (1, 28, 28)
    assert np.all(maps[0, 14:, :] == 0) and np.all(maps[0, :, 14:] == 0)  # every patch there is blank


def test_hiding_the_evidence_lowers_the_predicted_digit():
    maps = occlusion_maps(InkCounter(), digit_in_the_corner(), np.array([1]))
    assert maps[0, 2:8, 2:8].min() > 0
    assert np.unravel_index(maps[0].argmax(), (28, 28)) in {(r, c) for r in range(2, 8) for c in range(2, 8)}
    # For another digit, hiding the ink makes it *more* likely (its share grows as digit 1's shrinks).
    assert occlusion_maps(InkCounter(), digit_in_the_corner(), np.array([3]))[0, 4, 4] < 0


def test_bad_input_says_what_is_expected():
    with pytest.raises(ValueError, match="prepared images"):
        occlusion_maps(InkCounter(), np.zeros((2, 28, 28)), np.array([1, 1]))
    with pytest.raises(ValueError, match="one target digit per image"):
        occlusion_maps(InkCounter(), np.zeros((2, 28, 28, 1)), np.array([1]))


def test_examples_are_random_right_ones_and_the_most_confident_mistakes():
    probabilities = np.full((40, 10), 0.01)
    labels = np.arange(40) % 10
    probabilities[np.arange(40), labels] = 0.91
    probabilities[[3, 17], (labels[[3, 17]] + 1) % 10] = [0.95, 0.99]  # two mistakes, 17 surer
    evaluation = evaluate_predictions(probabilities / probabilities.sum(axis=1, keepdims=True), labels)
    right, wrong = chosen_examples(evaluation, count=4, seed=0)
    assert list(wrong) == [17, 3] and len(right) == 4 and not {3, 17} & set(right)
    assert np.array_equal(right, chosen_examples(evaluation, count=4, seed=0)[0])


def test_the_figure_says_which_digits_it_explains():
    probabilities = np.full((40, 10), 0.01)
    labels = np.arange(40) % 10
    probabilities[np.arange(40), labels] = 0.91
    probabilities[[3, 17], (labels[[3, 17]] + 1) % 10] = [0.95, 0.99]  # 7 read as 8 (the surest), 3 read as 4
    evaluation = evaluate_predictions(probabilities / probabilities.sum(axis=1, keepdims=True), labels)
    images = np.zeros((40, 28, 28, 1), dtype=np.float32)
    right, _ = chosen_examples(evaluation, count=2, seed=0)
    alt = occlusion_figure(InkCounter(), images, evaluation, count=2).alt
    assert f"2 right predictions (digits {labels[right[0]]}, {labels[right[1]]})" in alt
    surest, next_one = (f"{evaluation.confidence[i]:.0%}" for i in (17, 3))
    assert alt.endswith(f"the 2 most confident mistakes (7 read as 8 at {surest}, 3 read as 4 at {next_one}).")


@pytest.mark.jax
@pytest.mark.e2e  # builds every model of the registry
@pytest.mark.parametrize("name", model_matrix(["seed", "keras-example", "fast", "strong", "ensemble"]))
def test_every_registry_model_can_be_explained(name, small_splits):
    from digitlib import build_model, evaluate_model

    model = build_model(name)  # untrained: occlusion needs predictions only
    images, labels = small_splits.x_test[:8], small_splits.y_test[:8]
    evaluation = evaluate_model(model, images, labels)
    maps = occlusion_maps(model, images[:2], evaluation.predictions[:2])
    assert maps.shape == (2, 28, 28) and np.isfinite(maps).all()
    figure = occlusion_figure(model, images, evaluation, count=2)
    assert len(figure.axes) == 8  # two columns of digit and map, for right ones and mistakes
