"""Preparing MNIST for a CNN, as the seed does: (N, 28, 28, 1) float32 in [0, 1].

Also the deterministic pieces a run needs around it: an optional `limit` for
quick runs and a seeded, stratified validation split taken from the training
set (the test set is never used for selection).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Splits:
    """Prepared arrays for training, validation (may be empty) and test.

    `train_positions` and `val_positions` say where each training and validation image sat in
    the (limited) training set, so :meth:`resplit` can hold out a different slice; `data_sha256`
    names the MNIST files they came from, so trained models can be matched to their data.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_positions: np.ndarray | None = None
    val_positions: np.ndarray | None = None
    validation_split: float = 0.0
    data_sha256: dict[str, str] = field(default_factory=dict)

    def resplit(self, seed: int) -> Splits:
        """The same images with the validation slice :func:`prepare_splits` holds out for `seed`."""
        if self.train_positions is None or self.val_positions is None:
            raise ValueError("these splits do not record image positions; make them with prepare_splits")
        order = np.argsort(np.concatenate([self.train_positions, self.val_positions]))
        images = np.concatenate([self.x_train, self.x_val])[order]
        labels = np.concatenate([self.y_train, self.y_val])[order]
        train, val = _split_positions(labels, self.validation_split, seed)
        return replace(self, x_train=images[train], y_train=labels[train], x_val=images[val], y_val=labels[val],
                       train_positions=train, val_positions=val)


def prepare_images(images: np.ndarray) -> np.ndarray:
    """Reshape uint8 digits (N, 28, 28) to (N, 28, 28, 1) float32 and scale to [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixel values 0-255, got dtype {images.dtype}")
    return np.divide(images, np.float32(255), dtype=np.float32)[..., np.newaxis]  # one pass; as astype, then / 255


def take(images: np.ndarray, labels: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` examples (all when None): a quick, reproducible subset."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if limit is None:
        return images, labels
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return images[:limit], labels[:limit]


def _split_positions(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and the held-out examples, stratified by digit."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    positions = np.arange(len(labels))
    if fraction == 0.0:
        return positions, positions[:0]
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    train, val = train_test_split(positions, test_size=fraction, random_state=seed, stratify=stratify)
    return train, val


def split_validation(
    images: np.ndarray, labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out `fraction` of the examples, stratified by digit, the same for the same seed."""
    train, val = _split_positions(labels, fraction, seed)
    return images[train], labels[train], images[val], labels[val]


def prepare_splits(
    data,
    *,
    validation_split: float,
    seed: int,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> Splits:
    """From loaded MNIST to the arrays a model trains and is tested on."""
    images, labels = take(data.x_train, data.y_train, train_limit)
    x_test, y_test = take(data.x_test, data.y_test, test_limit)
    train, val = _split_positions(labels, validation_split, seed)
    return Splits(
        prepare_images(images[train]), labels[train].astype(np.int64),
        prepare_images(images[val]), labels[val].astype(np.int64),
        prepare_images(x_test), y_test.astype(np.int64),
        train_positions=train, val_positions=val, validation_split=validation_split,
        data_sha256=dict(getattr(data, "sha256", {})),
    )
