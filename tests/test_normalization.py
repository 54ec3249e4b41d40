"""FusedBatchNormalization: Keras' batch norm, trained through TensorFlow's fused kernel."""

import numpy as np
import pytest

from digitlib import build_model
from digitlib.backends import configured_backend


def _pair(shape):
    from keras import layers

    from digitlib.normalization import FusedBatchNormalization

    keras_norm, fused = layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    keras_norm.build(shape), fused.build(shape)
    rng = np.random.default_rng(5)
    gamma, beta = rng.uniform(0.5, 2.0, shape[-1]).astype(np.float32), rng.normal(size=shape[-1]).astype(np.float32)
    for norm in (keras_norm, fused):  # the same, non-trivial scale and shift in both
        norm.gamma.assign(gamma), norm.beta.assign(beta)
    return keras_norm, fused


@pytest.mark.skipif(configured_backend() != "tensorflow", reason="the fused path is TensorFlow's; others run Keras'")
@pytest.mark.parametrize("shape", [(32, 12, 12, 8), (48, 20)], ids=["feature maps", "dense"])
def test_training_gives_keras_outputs_gradients_and_moving_statistics(shape):
    import tensorflow as tf

    keras_norm, fused = _pair(shape)
    inputs = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype(np.float32))
    gradients, outputs = [], []
    for norm in (keras_norm, fused):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = norm(inputs, training=True)
            loss = tf.reduce_sum(output * tf.sin(output))
        outputs.append(output.numpy())
        gradients.append([g.numpy() for g in tape.gradient(loss, [inputs, norm.gamma, norm.beta])])
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
    traced = tf.function(lambda batch: fused(batch, training=True)).get_concrete_function(inputs)
    assert "FusedBatchNormV3" in {op.type for op in traced.graph.get_operations()}  # the fused kernel, not Keras'
    for fused_gradient, keras_gradient in zip(gradients[1], gradients[0]):
        np.testing.assert_allclose(fused_gradient, keras_gradient, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean.numpy(), keras_norm.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
    # the fused kernel's variance is unbiased; the layer keeps Keras' biased one (differs by n/(n-1) otherwise)
    np.testing.assert_allclose(fused.moving_variance.numpy(), keras_norm.moving_variance.numpy(), rtol=1e-5)


def test_inference_reads_the_moving_statistics_as_keras_does():
    keras_norm, fused = _pair((16, 6, 6, 4))
    inputs = np.random.default_rng(1).normal(size=(16, 6, 6, 4)).astype(np.float32)
    keras_norm(inputs, training=True), fused(inputs, training=True)
    np.testing.assert_allclose(np.asarray(fused(inputs, training=False)),
                               np.asarray(keras_norm(inputs, training=False)), atol=1e-5)


def test_fast_saves_and_loads_back_in_safe_mode(tmp_path):
    from digitlib.modelfile import load_trained_model

    fast = build_model("fast")
    assert [type(layer).__name__ for layer in fast.layers].count("FusedBatchNormalization") == 3
    images = np.random.default_rng(2).random((4, 28, 28, 1)).astype(np.float32)
    fast.save(tmp_path / "model.keras")
    loaded = load_trained_model(tmp_path / "model.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in fast.layers]
    np.testing.assert_array_equal(loaded.predict_on_batch(images), fast.predict_on_batch(images))
