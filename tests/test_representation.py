"""What the network learned: the penultimate layer's features, their 2-D map, the first filters."""

import numpy as np
import pytest

from conftest import model_matrix
from digitlib.report.representation import feature_map, first_convolution, map_subset


@pytest.mark.jax
@pytest.mark.e2e  # builds every model of the registry
@pytest.mark.parametrize("name", model_matrix(["seed", "keras-example", "fast", "strong", "ensemble"]))
def test_the_last_layer_applied_to_the_features_gives_the_models_probabilities(name, small_splits):
    import keras

    from digitlib import build_model, predict_probabilities
    from digitlib.models import ensemble_members
    from digitlib.report.representation import penultimate_features

    model = build_model(name)
    images = small_splits.x_test[:16]
    features = penultimate_features(model, images)
    network = (ensemble_members(model) or [model])[0]
    last = network.layers[-1] if not hasattr(network.layers[-1], "layers") else network.layers[-1].layers[-1]
    weights, bias = (keras.ops.convert_to_numpy(w) for w in last.weights)
    logits = features @ weights + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert features.shape == (16, weights.shape[0])
    assert np.allclose(expected, predict_probabilities(network, images), atol=1e-5)


@pytest.mark.jax
@pytest.mark.parametrize("name, filters", [("seed", 28), ("fast", 16),
                                                  pytest.param("ensemble", None, marks=pytest.mark.e2e)])
def test_the_filters_figure_shows_every_filter_of_the_first_convolution(name, filters):
    from digitlib import build_model, filters_figure

    model = build_model(name)
    count = first_convolution(model).kernel.shape[-1]
    assert filters is None or count == filters
    figure = filters_figure(model)
    assert sum(1 for axes in figure.axes if axes.images) == count
    assert ("first member" in figure._suptitle.get_text()) == (name == "ensemble")
    assert figure.alt.startswith(f"The {count} ") and "convolution as small images" in figure.alt


def test_the_map_is_two_dimensional_and_the_same_for_the_same_seed():
    features = np.random.default_rng(0).normal(size=(120, 64)).astype(np.float32)
    features[:60] += 4.0  # two clusters
    first, second = feature_map(features, seed=1), feature_map(features, seed=1)
    assert first.shape == (120, 2) and np.array_equal(first, second)
    centre_a, centre_b = first[:60].mean(axis=0), first[60:].mean(axis=0)
    spread = max(first[:60].std(), first[60:].std())
    assert np.linalg.norm(centre_a - centre_b) > 2 * spread  # the clusters stay apart


def test_the_map_subset_is_fixed_by_the_seed():
    labels = np.arange(10_000) % 10
    assert np.array_equal(map_subset(labels, 2000, seed=3), map_subset(labels, 2000, seed=3))
    assert len(map_subset(labels, 2000, seed=3)) == 2000 and len(map_subset(labels[:50], 2000)) == 50
