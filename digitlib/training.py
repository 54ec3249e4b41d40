"""Compiling and fitting, reproducibly, with one concise progress line per epoch."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import keras

    from .prepare import Splits


@dataclass(frozen=True)
class Reproducibility:
    seed: int
    backend: str
    op_determinism: bool


def set_reproducible(seed: int) -> Reproducibility:
    """Seed Python, NumPy and the backend, and make TensorFlow's ops deterministic.

    With these, the same seed on the same CPU and package versions gives the same
    weights and the same test metrics. (Other backends get the seeds only.)
    """
    import keras

    keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return Reproducibility(seed=seed, backend=backend, op_determinism=backend == "tensorflow")


def learning_rate_schedule(learning_rate: float, schedule: str, total_steps: int):
    """A constant rate, or one cycle: linear warm-up over the first quarter of the steps from a
    tenth of `learning_rate` to it, then cosine decay to 1% of it (Keras' CosineDecay)."""
    import keras

    if schedule == "constant":
        return learning_rate
    if schedule != "one-cycle":
        raise ValueError(f"unknown schedule {schedule!r}; choose constant or one-cycle")
    warmup = max(1, total_steps // 4)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10, decay_steps=max(1, total_steps - warmup), alpha=0.01,
        warmup_target=learning_rate, warmup_steps=warmup,
    )


def compile_model(model: "keras.Model", learning_rate, *, steps: int = 1, schedule: str = "constant") -> "keras.Model":
    """Adam, sparse categorical cross-entropy and accuracy: the seed's training contract."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate_schedule(learning_rate, schedule, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


def _epoch_progress(epochs: int, stream: TextIO):
    """A callback that prints one line per epoch and records each epoch's wall time."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            scores = "  ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items())
            print(f"epoch {epoch + 1}/{epochs}  {scores}  {self.seconds[-1]:.1f} s", file=stream, flush=True)

    return EpochProgress()


@dataclass(frozen=True)
class TrainingResult:
    """Per-epoch metrics (Keras' history) and per-epoch wall seconds."""

    history: dict[str, list[float]]
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.epoch_seconds)

    @property
    def train_seconds(self) -> float:
        return float(sum(self.epoch_seconds))


def fit_model(
    model: "keras.Model",
    splits: "Splits",
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    schedule: str = "constant",
    callbacks: Sequence["keras.callbacks.Callback"] = (),
    stream: TextIO | None = None,
) -> TrainingResult:
    """Compile and fit on the training split, watching the validation split if it has any."""
    steps = math.ceil(len(splits.x_train) / batch_size) * epochs
    compile_model(model, learning_rate, steps=steps, schedule=schedule)
    progress = _epoch_progress(epochs, stream or sys.stdout)
    validation = (splits.x_val, splits.y_val) if len(splits.x_val) else None
    history = model.fit(
        splits.x_train,
        splits.y_train,
        validation_data=validation,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[progress, *callbacks],
    )
    return TrainingResult(
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epoch_seconds=progress.seconds,
    )
