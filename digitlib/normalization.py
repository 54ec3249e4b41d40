"""Batch normalization as one fused operation on TensorFlow: the same arithmetic as Keras', a third of a step cheaper.

Keras 3 normalizes a batch on TensorFlow op by op (the mean, the variance, then scale and shift, each a pass over
the activations, and as many again for the gradients). On 2 CPU cores that made batch norm over half of a `fast`
training step (bench/results/train_step.md). TensorFlow's fused kernel computes the same thing in one pass each
way. Keras keeps the biased batch variance in its moving average and the fused kernel returns the unbiased one;
the layer converts it, so both keep the same statistics. Masks, renormalization and every other backend take
Keras' own path, as does a layer that is not training (inference reads the moving statistics, which costs little).

Keras is imported here at module level: import this module only where a model is built or loaded.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="digitlib")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training pass is TensorFlow's fused kernel (channels last)."""

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm
                or keras.backend.backend() != "tensorflow" or self.axis not in (-1, len(inputs.shape) - 1)
                or len(inputs.shape) not in (2, 4) or not (self.scale and self.center)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        values = tf.cast(inputs, tf.float32)
        channels = values.shape[-1]
        images = values if len(values.shape) == 4 else tf.reshape(values, (-1, 1, 1, channels))
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            images, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), epsilon=self.epsilon,
            data_format="NHWC", is_training=True)
        count = tf.cast(tf.size(images) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)  # unbiased back to Keras' biased variance
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(tf.reshape(outputs, tf.shape(values)), self.compute_dtype)
