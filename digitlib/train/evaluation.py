"""Scoring a trained model on the test set: loss, accuracy and per-digit metrics."""

from __future__ import annotations

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


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (N, 10) for prepared images, in chunks of `batch_size`.

    ``predict_on_batch`` reuses one compiled function and skips ``predict``'s per-call set-up
    (data adapter, callbacks), which dominates the latency of a single image.
    """
    chunks = [np.asarray(model.predict_on_batch(images[start:start + batch_size]))
              for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(DIGITS)), dtype=np.float32)


_HIDDEN_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> its hidden-layer model


def hidden_features(network: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(N, d) float32: what the last layer of `network` (one network, not an ensemble) receives for prepared
    images, in inference mode (augmentation and dropout off).

    Runs a model made of the network's own layers, all but the last, through ``predict_on_batch``: one compiled
    function, built once per network, instead of calling each layer eagerly for every batch.
    """
    hidden = _HIDDEN_MODELS.get(network)
    if hidden is None:
        hidden = _HIDDEN_MODELS[network] = _hidden_model(network)
    chunks = [np.asarray(hidden.predict_on_batch(batch)).reshape(len(batch), -1)
              for batch in (images[start:start + batch_size] for start in range(0, len(images), batch_size))]
    return np.concatenate(chunks) if chunks else np.zeros((0, int(np.prod(hidden.output_shape[1:]))), np.float32)


def _hidden_model(network: keras.Model) -> keras.Model:
    """A model of `network`'s own layers, all but the last, from its input to what the last layer receives."""
    import keras

    from ..models import leaf_layers

    leaves = leaf_layers(network)
    if len(leaves) < 2:
        raise ValueError(f"{network.name}: the model has no hidden layer to take features from")
    inputs = x = keras.Input(shape=network.input_shape[1:])
    for layer in leaves[:-1]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{network.name}_hidden")


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
