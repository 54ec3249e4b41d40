import io

import numpy as np
import pytest

from conftest import model_matrix
from digitlib import build_model, describe_model, layers_table, model_names
from digitlib.models import MODELS, jax_compilable


def test_registry_lists_every_model_with_a_description():
    assert model_names() == ["seed", "keras-example", "fast-plain", "fast", "strong", "ensemble"]
    assert "28 filters" in describe_model("seed") and "Simple MNIST convnet" in describe_model("keras-example")


def test_every_model_says_how_long_an_epoch_takes_and_a_new_one_cannot_leave_it_out():
    from digitlib.models import ModelSpec, seed_model

    assert all(spec.minutes_per_epoch > 0 for spec in MODELS.values())
    assert MODELS["ensemble"].minutes_per_epoch == MODELS["strong"].minutes_per_epoch  # one member's
    with pytest.raises(TypeError, match="minutes_per_epoch"):
        ModelSpec(seed_model, parameters=1, activations=1, epochs=1, batch_size=1, learning_rate=0.1)


def test_keras_example_matches_the_published_architecture():
    model = build_model("keras-example")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert model.count_params() == 34_826  # as printed in Keras' example


@pytest.mark.jax
@pytest.mark.e2e
@pytest.mark.parametrize("name", model_matrix(model_names()))
def test_every_model_trains_saves_and_reloads_to_the_same_predictions(name, small_splits, tmp_path):
    import keras

    from digitlib import set_reproducible, train_network
    from digitlib.params import recipe, validate_parameters

    set_reproducible(0)
    model = build_model(name, members=2 if name == "ensemble" else None)
    settings = {**recipe(validate_parameters(model=name)), "epochs": 1}
    result = train_network(model, small_splits, **settings, stream=io.StringIO())
    assert result.epochs == 1 and np.isfinite(result.history["loss"][0])
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded.predict(small_splits.x_test, verbose=0),
                               model.predict(small_splits.x_test, verbose=0), rtol=1e-5, atol=1e-6)


def test_seed_model_matches_the_seed():
    model = build_model("seed")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    conv, _, _, hidden, dropout, output = model.layers
    assert conv.filters == 28 and conv.kernel_size == (3, 3)
    assert hidden.units == 128 and dropout.rate == 0.2 and output.units == 10
    # conv 28*(9+1) + dense 13*13*28*128+128 + output 128*10+10
    assert model.count_params() == 280 + 605_824 + 1_290 == 607_394
    probabilities = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; choose one of: .*seed"):
        build_model("resnet")


def test_layers_table_has_one_row_per_layer():
    table = layers_table(build_model("seed"))
    assert len(table) == 6 and table["parameters"].sum() == 607_394
    assert table.iloc[0]["output shape"] == "(None, 26, 26, 28)"


@pytest.mark.jax
def test_strong_is_fast_twice_as_wide_with_the_same_writer_variation_and_flagged_ones(small_splits):
    from digitlib.augmentation import WriterVariation
    from digitlib.models import flagged_ones

    def widths(model):  # filters of each convolution, units of each dense layer
        return [getattr(layer, "filters", None) or layer.units for layer in model.layers
                if hasattr(layer, "filters") or hasattr(layer, "units")]

    fast, strong = build_model("fast"), build_model("strong")
    assert widths(fast) == [16, 32, 128, 10] and widths(strong) == [32, 64, 256, 10]
    assert isinstance(strong.layers[0], WriterVariation) and flagged_ones(strong) == flagged_ones(fast) > 0
    # version 1 was a deeper, slower network; version 2 trained against unsmoothed labels
    assert MODELS["strong"].version == MODELS["ensemble"].version == 3
    assert MODELS["strong"].label_smoothing == MODELS["ensemble"].label_smoothing == 0.1
    images = small_splits.x_test[:16]
    trained_view = np.asarray(strong.layers[0](images, training=True))
    assert trained_view.shape == images.shape and not np.allclose(trained_view, images)
    first = strong.predict(images, verbose=0)
    np.testing.assert_array_equal(strong.predict(images, verbose=0), first)  # evaluation is deterministic


def _strong_version_1():
    """A network holding Keras' random image layers, as `strong` version 1 and its ensembles did."""
    import keras
    from keras import layers

    augmentation = keras.Sequential([layers.RandomRotation(10 / 360, fill_mode="constant"),
                                     layers.RandomZoom(0.1, fill_mode="constant"),
                                     layers.RandomTranslation(0.1, 0.1, fill_mode="constant")], name="augmentation")
    return jax_compilable(keras.Sequential([keras.Input(shape=(28, 28, 1)), augmentation, layers.Conv2D(4, 3),
                                            layers.Flatten(), layers.Dense(10, activation="softmax")], name="strong"))


@pytest.mark.jax
@pytest.mark.e2e  # builds, saves and loads a network with random image layers: seconds
def test_a_model_with_random_image_layers_is_compiled_whole_on_jax_also_when_loaded_back(tmp_path):
    import keras

    from digitlib.modelfile import load_trained_model
    from digitlib.train.training import compile_model

    on_jax = keras.backend.backend() == "jax"  # Keras' own choice elsewhere: TensorFlow turns XLA off under
    model = _strong_version_1()  # op determinism anyway
    compile_model(model, 0.001)
    assert model.jit_compile is on_jax
    model.save(tmp_path / "model.keras")
    loaded = load_trained_model(tmp_path / "model.keras")
    assert loaded.jit_compile is on_jax
    np.testing.assert_allclose(loaded.predict(np.zeros((2, 28, 28, 1)), verbose=0),
                               model.predict(np.zeros((2, 28, 28, 1)), verbose=0), atol=1e-6)
