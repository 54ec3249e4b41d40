"""The training loss: sparse categorical cross-entropy, with label smoothing when a recipe asks for it.

Keras smooths labels only for one-hot targets (CategoricalCrossentropy); digitlib's labels are digits. The smoothed
loss here takes the digits, as Keras' sparse loss does, and is registered so that a model.keras trained with it loads
(its compile configuration names the loss) in Keras' safe mode.

Keras is imported here at module level: import this module only where a model is compiled or loaded.
"""

from __future__ import annotations

import keras


def crossentropy(label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Keras' sparse categorical cross-entropy; with `label_smoothing` > 0, that share of each label spread evenly
    over the ten digits (the true digit keeps 1 - label_smoothing + label_smoothing / 10)."""
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), not {label_smoothing!r}")
    if label_smoothing == 0:
        return keras.losses.SparseCategoricalCrossentropy()
    return SmoothedSparseCrossentropy(label_smoothing)


@keras.saving.register_keras_serializable(package="digitlib")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy against smoothed one-hot labels, given the labels as digits (shape (N,) or (N, 1))."""

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
