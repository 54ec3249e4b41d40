"""Compiling and fitting, reproducibly, with one concise progress line per epoch (and, for a person watching a
notebook in JupyterLab, a bar of the epoch's batches)."""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from ..atomic import remove_partial_writes, write_atomic
from ..backends import DETERMINISTIC_XLA
from ..layout import CHECKPOINT_STATE, CHECKPOINT_WEIGHTS, CHECKPOINT_WEIGHTS_ODD
from ..models import ensemble_members, flagged_ones

if TYPE_CHECKING:
    import keras

    from .prepare import Splits


@dataclass(frozen=True)
class Reproducibility:
    seed: int
    backend: str
    op_determinism: bool


def set_reproducible(seed: int) -> Reproducibility:
    """Seed Python, NumPy and the backend, and make its ops deterministic.

    With these, the same seed on the same device, backend and package versions gives the same weights
    and the same test metrics. TensorFlow: op determinism, as TensorFlow reports it. JAX: deterministic
    XLA GPU kernels, which must be asked for before JAX starts (:mod:`digitlib.backends` sets
    XLA_FLAGS for every kernel, and importing digitlib does); on a CPU, XLA is deterministic.
    """
    import keras

    keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    deterministic = False
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework.config import is_op_determinism_enabled  # not re-exported publicly

        tf.config.experimental.enable_op_determinism()
        deterministic = is_op_determinism_enabled()  # what TensorFlow reports, not what we asked for
    elif backend == "jax":
        import jax

        deterministic = jax.devices()[0].platform == "cpu" or DETERMINISTIC_XLA in os.environ.get("XLA_FLAGS", "")
    return Reproducibility(seed=seed, backend=backend, op_determinism=deterministic)


# After a one-cycle schedule shorter than the training, the rate stays at this share of the peak (where the warm-up
# starts): the time-to-accuracy sprint's tail, chosen on tuning seeds' validation accuracy (time_to_accuracy.md).
TAIL_SHARE = 0.1


def learning_rate_schedule(learning_rate: float, schedule: str, total_steps: int, cycle_steps: int | None = None):
    """A constant rate, or one cycle: linear warm-up over the first quarter of the cycle's steps from a tenth of
    `learning_rate` to it, then cosine decay to 1% of it (Keras' CosineDecay). The cycle spans `cycle_steps` (None:
    all `total_steps`); the steps after it train at :data:`TAIL_SHARE` of `learning_rate`
    (:class:`digitlib.schedules.CycleThenTail`)."""
    import keras

    if schedule not in ("constant", "one-cycle"):
        raise ValueError(f"unknown schedule {schedule!r}; choose constant or one-cycle")
    if schedule == "constant":
        if cycle_steps is not None:
            raise ValueError("a cycle's length applies to the one-cycle schedule only")
        return learning_rate
    if cycle_steps is not None and not 1 <= cycle_steps <= total_steps:
        raise ValueError(f"the cycle's {cycle_steps} steps must be between 1 and the training's {total_steps}")
    cycle = total_steps if cycle_steps is None else cycle_steps
    warmup = max(1, cycle // 4)
    cosine = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10, decay_steps=max(1, cycle - warmup), alpha=0.01,
        warmup_target=learning_rate, warmup_steps=warmup,
    )
    if cycle == total_steps:
        return cosine
    from ..schedules import CycleThenTail

    return CycleThenTail(cosine, cycle, learning_rate * TAIL_SHARE)


def compile_model(model: keras.Model, learning_rate, *, steps: int = 1, schedule: str = "constant",
                  label_smoothing: float = 0.0, steps_per_execution: int = 1,
                  cycle_steps: int | None = None) -> keras.Model:
    """Adam, sparse categorical cross-entropy (its labels smoothed by `label_smoothing`: digitlib.losses) and
    accuracy: the seed's training contract. `steps_per_execution`: how many batches one call of Keras' compiled
    training function runs (see :func:`steps_per_call`); `cycle_steps`: see :func:`learning_rate_schedule`."""
    import keras

    from ..losses import crossentropy

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate_schedule(learning_rate, schedule, steps,
                                                                            cycle_steps)),
        loss=crossentropy(label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def steps_per_call(batches_per_epoch: int, progress_bar: bool) -> int:
    """Batches per call of the compiled training function: a whole epoch on TensorFlow when no bar of batches is
    shown, else one.

    On TensorFlow a call per batch costs Python and tracing overhead around a few milliseconds of work; running the
    epoch's batches in one call does the same steps in the same order on the same data (the weights come out bit
    for bit the same: tests/test_training.py). It must be the whole epoch: Keras lets a call run past an epoch's
    last batch into the next epoch's, which would move the checkpoints. A bar of batches needs a call per batch to
    move; JAX would unroll the calls into one program, which takes long to compile.
    """
    import keras

    return batches_per_epoch if keras.backend.backend() == "tensorflow" and not progress_bar else 1


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


def interactive_frontend(request: Mapping | None = None) -> bool:
    """Whether the code runs for a person watching a notebook (JupyterLab, Jupyter Notebook, VS Code), not for
    papermill (`digitlib report`, plain papermill), nbconvert --execute, a script or a terminal.

    The signal is the Jupyter messaging protocol's own: the `allow_stdin` of the execute request the kernel is
    running (`request`; default: the current one). A frontend where someone could answer input() sends True;
    nbclient, which papermill and nbconvert execute notebooks with, sends False, as nobody is there to answer.
    Outside an IPython kernel there is no request, and no one to show a bar to.
    """
    if request is None:
        request = _current_request()
    return bool(((request or {}).get("content") or {}).get("allow_stdin", False))


def _current_request() -> Mapping | None:
    """The execute request of the IPython kernel this code runs in, or None outside one."""
    if "ipykernel" not in sys.modules:  # a kernel has imported it long before any cell runs
        return None
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)  # ipykernel 6 and later
    return get_parent("shell") if get_parent else None


def _batch_progress(epochs: int, stream: TextIO):
    """A callback that shows a bar of each epoch's batches on `stream`, and clears it when the epoch ends.

    Plain text (carriage returns, which JupyterLab renders in place) on the stream the epoch lines go to, so
    stdout, not a red stderr box: tqdm's notebook widget would need ipywidgets, which digitlib does not install.
    """
    import keras
    from tqdm.std import tqdm

    class BatchProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._bar = tqdm(total=self.params.get("steps"), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                             file=stream, leave=False, ncols=80, mininterval=0.5)

        def on_train_batch_end(self, batch, logs=None):  # `batch`: the last batch the call ran
            self._bar.update(batch + 1 - self._bar.n)

        def on_epoch_end(self, epoch, logs=None):
            self._bar.close()  # before the epoch's line is printed: it runs first

    return BatchProgress()


@dataclass(frozen=True)
class TrainingResult:
    """Per-epoch metrics (Keras' history) and per-epoch wall seconds."""

    history: dict[str, list[float]]
    epoch_seconds: list[float] = field(default_factory=list)
    members: tuple[dict, ...] = ()  # an ensemble's members: seed, where it came from, its training seconds

    @property
    def epochs(self) -> int:
        return len(self.epoch_seconds)

    @property
    def train_seconds(self) -> float:
        return float(sum(self.epoch_seconds))


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch `epoch` visits the training images: fixed by (seed, epoch) alone,
    so a run resumed in a new process shuffles exactly as the uninterrupted run did."""
    return np.random.default_rng([seed, epoch]).permutation(count)


FLAG_STREAM = 7  # the batch builder's flags draw from their own stream of (seed, epoch, batch) random numbers


def _epoch_batches(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, first_epoch: int, epochs: int,
                   flagged_ones: float = 0.0):
    """The training batches of epochs `first_epoch` to `epochs` (a Keras PyDataset), each epoch in its
    :func:`epoch_order`, with `flagged_ones` of each batch's 1s given a flag (:func:`digitlib.augmentation.flag_ones`,
    drawn from (seed, epoch, batch) alone)."""
    import keras

    from ..augmentation import flag_ones

    class EpochBatches(keras.utils.PyDataset):
        """The training images of epochs `first_epoch` to `epochs` as one sequence of batches, each epoch in
        :func:`epoch_order`: batch i of the sequence depends on i alone (nothing changes between epochs), so
        prefetching across an epoch's end reads the right images, on every backend."""

        def __init__(self, x, y, *, batch_size: int, seed: int, first_epoch: int, epochs: int, flagged_ones: float):
            super().__init__()
            self.x, self.y, self.batch_size, self.seed, self.first_epoch = x, y, batch_size, seed, first_epoch
            self.flagged_ones = flagged_ones
            self.per_epoch = math.ceil(len(x) / batch_size)
            self.total = self.per_epoch * (epochs - first_epoch)
            self._orders: dict[int, np.ndarray] = {}

        def __len__(self) -> int:
            return self.total

        def __getitem__(self, index: int):
            epoch, batch = divmod(int(index), self.per_epoch)
            epoch += self.first_epoch
            if epoch not in self._orders:  # the current epoch's and the next one's, while prefetching crosses over
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = epoch_order(len(self.x), self.seed, epoch)
            chosen = self._orders[epoch][batch * self.batch_size:(batch + 1) * self.batch_size]
            images, labels = self.x[chosen], self.y[chosen]
            if self.flagged_ones:
                generator = np.random.default_rng([self.seed, epoch, batch, FLAG_STREAM])
                images = flag_ones(images, labels, generator, self.flagged_ones)
            return images, labels

    return EpochBatches(x, y, batch_size=batch_size, seed=seed, first_epoch=first_epoch, epochs=epochs,
                        flagged_ones=flagged_ones)


def _fit_input(batches):
    """What `model.fit` reads `batches` (an :func:`_epoch_batches` sequence) from.

    TensorFlow: a tf.data pipeline over the same batches, in the same order, prefetching two, with tf.data's
    autotuning off. Keras' own pipeline for a PyDataset autotunes; destroying its iterator when `fit` returns waits
    for the autotuner's thread, which sometimes slept on in its timed wait between rounds: 15-48 s after the last
    epoch in some papermill kernels (bench/results/end_to_end.md). Other backends read the sequence itself.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    signature = (tf.TensorSpec((None, *batches.x.shape[1:]), batches.x.dtype),
                 tf.TensorSpec((None, *batches.y.shape[1:]), batches.y.dtype))
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _epoch_record(history: dict, seconds: list[float], model: keras.Model, directory: Path | None):
    """A callback, last in the list, that appends each epoch's metrics to `history` and, with `directory`, saves
    the checkpoint once the epoch's time is in `seconds` (the progress callback runs before it)."""
    import keras

    class EpochRecord(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            if directory:
                _save_checkpoint(directory, model, history, seconds)

    return EpochRecord()


def _random_states(model: keras.Model) -> list:
    """The dropout layers' random-generator states, which save_weights leaves out."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _weights_file(epochs_done: int) -> str:
    """The file a checkpoint after `epochs_done` epochs keeps its weights in: two names taken in turn."""
    return CHECKPOINT_WEIGHTS_ODD if epochs_done % 2 else CHECKPOINT_WEIGHTS


def _weights_temporary(weights: str, writer: str) -> str:
    """The name `writer` (a process id) saves `weights` under before renaming it into place: Keras insists on the
    suffix."""
    return f".{weights}.{writer}.weights.h5"


def _remove_partial_checkpoints(directory: Path) -> None:
    """Delete what a training process killed while it saved a checkpoint left half-written (its temporaries): the
    run's kernel is the only writer of its checkpoint, and a resumed run starts a new one."""
    for weights in (CHECKPOINT_WEIGHTS, CHECKPOINT_WEIGHTS_ODD):
        for partial in directory.glob(_weights_temporary(glob.escape(weights), "*")):
            partial.unlink(missing_ok=True)
    remove_partial_writes(directory / CHECKPOINT_STATE)


def _save_checkpoint(directory: Path, model: keras.Model, history: dict, seconds: list[float]) -> None:
    """Weights, optimizer and random-generator state and progress after an epoch, each replaced atomically: the
    weights first, into the file the previous checkpoint does not use, then the state that counts their epochs."""
    weights = _weights_file(len(seconds))
    temporary = directory / _weights_temporary(weights, str(os.getpid()))
    model.save_weights(temporary)
    os.replace(temporary, directory / weights)
    random_states = [np.asarray(v).tolist() for v in _random_states(model)]
    write_atomic(directory / CHECKPOINT_STATE, json.dumps({"epochs_done": len(seconds), "history": history,
                                                           "epoch_seconds": seconds, "random_states": random_states}))


def _load_checkpoint(directory: Path, model: keras.Model) -> tuple[dict, list[float]]:
    """Restore a checkpoint into the compiled `model`; empty history when there is none. Half-written saves of a
    killed run go first."""
    _remove_partial_checkpoints(directory)
    state_path = directory / CHECKPOINT_STATE
    if not state_path.exists():
        return {}, []
    state = json.loads(state_path.read_text(encoding="utf-8"))
    weights_path = directory / _weights_file(state["epochs_done"])
    if not weights_path.exists():  # a checkpoint written before the two files took turns: it had one
        weights_path = directory / CHECKPOINT_WEIGHTS
    if not weights_path.exists():
        return {}, []
    model.optimizer.build(model.trainable_variables)  # so its moments can be loaded too
    model.load_weights(weights_path)
    for variable, value in zip(_random_states(model), state["random_states"], strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return state["history"], state["epoch_seconds"]


def fit_model(
    model: keras.Model,
    splits: Splits,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    schedule: str = "constant",
    label_smoothing: float = 0.0,
    cycle_epochs: int | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stream: TextIO | None = None,
    progress_bar: bool | None = None,
) -> TrainingResult:
    """Compile and fit on the training split, watching the validation split if it has any.

    Each epoch visits the images in :func:`epoch_order`. With `checkpoint_dir`, the state is
    saved after every epoch and training resumes from the last finished epoch when a checkpoint
    is there: an interrupted run, resumed, ends with the same weights as an uninterrupted one.
    One network only: an ensemble trains member by member (:func:`digitlib.train_network`).
    `cycle_epochs` (one-cycle only): the cycle spans that many epochs and the rest train at a tenth of the peak
    rate (:func:`learning_rate_schedule`; the time-to-accuracy sprint's recipe); None: all of them.

    One line per epoch goes to `stream` (default stdout). `progress_bar` adds a bar of each epoch's batches
    while it trains; None: where someone watches it (:func:`interactive_frontend`), so a papermill log keeps
    exactly one line per epoch.
    """
    if ensemble_members(model):
        raise ValueError("an ensemble trains member by member: use digitlib.train_network, not fit_model")
    per_epoch = math.ceil(len(splits.x_train) / batch_size)
    if progress_bar is None:
        progress_bar = interactive_frontend()
    if cycle_epochs is not None and not 1 <= cycle_epochs <= epochs:
        raise ValueError(f"cycle_epochs must be between 1 and epochs ({epochs}), not {cycle_epochs!r}")
    compile_model(model, learning_rate, steps=per_epoch * epochs, schedule=schedule, label_smoothing=label_smoothing,
                  steps_per_execution=steps_per_call(per_epoch, progress_bar),
                  cycle_steps=None if cycle_epochs is None else per_epoch * cycle_epochs)
    progress = _epoch_progress(epochs, stream or sys.stdout)
    shown = [_batch_progress(epochs, stream or sys.stdout), progress] if progress_bar else [progress]
    validation = (splits.x_val, splits.y_val) if len(splits.x_val) else None
    directory = Path(checkpoint_dir) if checkpoint_dir else None
    history, seconds = _load_checkpoint(directory, model) if directory else ({}, [])
    if seconds:
        print(f"resuming after epoch {len(seconds)}/{epochs} from the checkpoint in {directory}",
              file=stream or sys.stdout, flush=True)
    progress.seconds.extend(seconds)
    first = len(seconds)
    if first < epochs:  # one fit for every epoch left: Keras sets up its loop and the validation data once
        batches = _epoch_batches(splits.x_train, splits.y_train, batch_size=batch_size, seed=seed, first_epoch=first,
                                 epochs=epochs, flagged_ones=flagged_ones(model))
        record = _epoch_record(history, progress.seconds, model, directory)
        model.fit(_fit_input(batches), validation_data=validation, initial_epoch=first, epochs=epochs,
                  steps_per_epoch=batches.per_epoch, validation_batch_size=batch_size, shuffle=False, verbose=0,
                  callbacks=[*shown, *callbacks, record])
    return TrainingResult(history=history, epoch_seconds=list(progress.seconds))
