import numpy as np
import pytest

from digitlib.losses import SmoothedSparseCrossentropy, crossentropy


def _probabilities(count: int, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(count, 10)).astype(np.float32)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.jax
@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_smoothed_labels_given_as_digits_score_as_keras_smooths_one_hot_labels(shape):
    import keras

    digits = np.arange(8) % 10
    probabilities = _probabilities(8)
    one_hot = np.eye(10, dtype=np.float32)[digits]
    for amount in (0.05, 0.1, 0.3):
        expected = keras.losses.CategoricalCrossentropy(label_smoothing=amount)(one_hot, probabilities)
        found = crossentropy(amount)(digits.reshape(shape), probabilities)
        np.testing.assert_allclose(float(found), float(expected), rtol=1e-6)
    plain = float(keras.losses.SparseCategoricalCrossentropy()(digits, probabilities))
    assert float(crossentropy(0.1)(digits.reshape(shape), probabilities)) != pytest.approx(plain)


def test_no_smoothing_is_keras_own_loss_and_a_share_outside_0_to_1_is_refused():
    import keras

    assert type(crossentropy()) is keras.losses.SparseCategoricalCrossentropy
    assert type(crossentropy(0.0)) is keras.losses.SparseCategoricalCrossentropy
    for wrong in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
            crossentropy(wrong)


@pytest.mark.jax
def test_a_model_trained_with_smoothed_labels_loads_back_in_safe_mode_with_its_loss(tmp_path):
    from digitlib import build_model
    from digitlib.modelfile import load_trained_model, save_model
    from digitlib.train.training import compile_model

    model = compile_model(build_model("seed"), 0.001, label_smoothing=0.1)
    images = np.random.default_rng(1).random((4, 28, 28, 1)).astype(np.float32)
    model.train_on_batch(images, np.arange(4))
    loaded = load_trained_model(save_model(tmp_path, model))
    assert isinstance(loaded.loss, SmoothedSparseCrossentropy) and loaded.loss.label_smoothing == 0.1
    np.testing.assert_array_equal(loaded.predict_on_batch(images), model.predict_on_batch(images))
