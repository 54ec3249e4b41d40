"""Scoring a trained model on the test set: loss, accuracy and per-digit metrics."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

if TYPE_CHECKING:
    import keras

DIGITS = list(range(10))
_EPSILON = 1e-7  # Keras' clipping of probabilities inside the cross-entropy


@dataclass(frozen=True)
class Evaluation:
    """Predicted probabilities next to the true labels, and the scores derived from them."""

    probabilities: np.ndarray  # (N, 10)
    labels: np.ndarray  # (N,)

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels))

    @property
    def loss(self) -> float:
        """Mean sparse categorical cross-entropy, as Keras computes it."""
        picked = self.probabilities[np.arange(len(self.labels)), self.labels]
        return float(np.mean(-np.log(np.clip(picked, _EPSILON, 1.0 - _EPSILON))))

    @property
    def mistakes(self) -> np.ndarray:
        """Indices of the wrong predictions, most confident first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        return wrong[np.argsort(-self.confidence[wrong], kind="stable")]


def evaluate_predictions(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Check shapes and wrap predicted probabilities with their labels."""
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(DIGITS):
        raise ValueError(f"expected probabilities of shape (N, 10), got {probabilities.shape}")
    if labels.shape != (len(probabilities),):
        raise ValueError(f"expected {len(probabilities)} labels, got shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("cannot evaluate on an empty test set")
    return Evaluation(probabilities=probabilities, labels=labels.astype(np.int64))


class _RetracingWarning(logging.Filter):
    """Drops TensorFlow's warning that a predict function was traced again ("... triggered tf.function retracing").

    Each network (an ensemble's members, their feature models) compiles its own predict function on first use, and
    TensorFlow counts those tracings together: from the fifth it warns, and the warning would land in reports. One
    network's function is traced again only for a new batch size, which reading pictures of every count does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING_WARNING = _RetracingWarning()


def _quiet_retracing() -> None:
    logging.getLogger("tensorflow").addFilter(_RETRACING_WARNING)  # once: a filter already there is not added again


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (N, 10) for prepared images, in chunks of `batch_size`.

    ``predict_on_batch`` reuses one compiled function and skips ``predict``'s per-call set-up
    (data adapter, callbacks), which dominates the latency of a single image.
    """
    _quiet_retracing()
    chunks = [np.asarray(model.predict_on_batch(images[start:start + batch_size]))
              for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(DIGITS)), dtype=np.float32)


_FEATURE_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> its _feature_model


def hidden_features(network: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(N, d) float32: what the last layer of `network` (one network, not an ensemble) receives for prepared
    images, in inference mode (augmentation and dropout off)."""
    return layer_features(network, images, batch_size, convolutional=False)[1]


def layer_features(network: keras.Model, images: np.ndarray, batch_size: int = 1024,
                   convolutional: bool | np.ndarray = True) -> tuple[np.ndarray | None, np.ndarray]:
    """(convolutional (N, c), hidden (N, d)) float32 of prepared images, in inference mode: what the first dense
    layer of `network` (one network, not an ensemble) receives, flattened (None without `convolutional`: many
    pictures' would take hundreds of MB; given sorted positions of `images`, those rows only), and what its last
    layer receives.

    Runs a model made of the network's own layers, all but the last, through ``predict_on_batch``: one compiled
    function, built once per network, instead of calling each layer eagerly for every batch.
    """
    _quiet_retracing()
    model = _FEATURE_MODELS.get(network)
    if model is None:
        model = _FEATURE_MODELS[network] = _feature_model(network)
    rows = None if isinstance(convolutional, bool) else np.asarray(convolutional, dtype=np.int64)
    chunks = []
    for start in range(0, len(images), batch_size):
        maps, hidden = model.predict_on_batch(images[start:start + batch_size])
        if rows is not None:  # the chunk's share of the rows asked for (they are sorted)
            first, last = np.searchsorted(rows, [start, start + batch_size])
            maps = np.asarray(maps)[rows[first:last] - start]
        chunks.append((maps, hidden))

    def stacked(output: int) -> np.ndarray:
        if not chunks:
            return np.zeros((0, int(np.prod(model.outputs[output].shape[1:]))), np.float32)
        return np.concatenate([np.asarray(chunk[output]).reshape(len(chunk[output]), -1) for chunk in chunks])

    return (stacked(0) if rows is not None or convolutional else None), stacked(1)


def _feature_model(network: keras.Model) -> keras.Model:
    """A model of `network`'s own layers, all but the last, with two outputs: what its first dense layer receives
    (flattened) and what its last layer receives."""
    import keras

    if isinstance(network, keras.Sequential):
        inputs, convolutional, hidden = _replayed_features(network)
    else:  # a functional graph (one of the user's), whose layers may branch and join: read from its own graph
        inputs, convolutional, hidden = _graph_features(network)
    if len(convolutional.shape) > 2:  # a dense layer reads feature maps along their last axis: flatten them
        convolutional = keras.layers.Flatten(name=f"{network.name}_convolutional_features")(convolutional)
    return keras.Model(inputs, [convolutional, hidden], name=f"{network.name}_features")


def _replayed_features(network: keras.Model):
    """(inputs, what the first dense layer receives, what the last layer receives) of a Sequential network, its
    leaf layers (nested models flattened) called again in order on a new input."""
    import keras

    from ..models import leaf_layers

    leaves = leaf_layers(network)
    if len(leaves) < 2:
        raise ValueError(f"{network.name}: the model has no hidden layer to take features from")
    dense = [i for i, layer in enumerate(leaves) if isinstance(layer, keras.layers.Dense)]
    first_dense = dense[0] if dense else len(leaves) - 1
    inputs = x = keras.Input(shape=network.input_shape[1:])
    convolutional = None
    for index, layer in enumerate(leaves[:-1]):
        if index == first_dense:
            convolutional = x
        x = layer(x)
    # the first dense layer is the last one: it receives the last hidden features
    return inputs, x if convolutional is None else convolutional, x


def _graph_features(network: keras.Model):
    """:func:`_replayed_features` of a functional model: the tensors its first dense layer and its last layer
    receive, taken from the model's own graph."""
    import keras

    layers = [layer for layer in network.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(layers) < 2 or len(network.inputs) != 1:
        raise ValueError(f"{network.name}: the model has no hidden layer to take features from")
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    try:
        return network.inputs, (dense[0] if dense else layers[-1]).input, layers[-1].input
    except (AttributeError, ValueError) as error:  # a layer called more than once has no single input
        raise ValueError(f"{network.name}: cannot take features from its layers ({error})") from None


def evaluate_model(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Predict the test images once; every score and figure derives from these probabilities."""
    return evaluate_predictions(predict_probabilities(model, images), labels)


def evaluate_members(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> list[Evaluation]:
    """Each member of an ensemble scored on its own, to see what averaging adds; [] for other models."""
    from ..models import ensemble_members

    return [evaluate_model(member, images, labels) for member in ensemble_members(model)]


def per_class_metrics(evaluation: Evaluation) -> pd.DataFrame:
    """Precision, recall, F1 and support for each digit (scikit-learn)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        evaluation.labels, evaluation.predictions, labels=DIGITS, zero_division=0
    )
    table = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support})
    table.index.name = "digit"
    return table
