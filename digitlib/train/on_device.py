"""Training with the data on the accelerator and each epoch one compiled program (JAX): the GPU sprint.

Keras' `fit` runs one compiled step per batch and returns to Python between them; on an H200 that Python and
the batches' trip from host memory set the pace of a small network, not the card (bench/results/gpu.md: an epoch
of `fast` in its report 1.37 s, of `fast-plain` here 0.155 s). Here the training and validation images are put on
the device once, and an epoch (its shuffle, every step of Adam on the network Keras built, through
``model.stateless_call`` and ``optimizer.stateless_apply``) is one XLA program: ``jax.lax.scan`` over the epoch's
batches. After each epoch
the validation accuracy, computed on the device too, is the one number that comes back to Python, so training
can stop at a threshold as the time-to-accuracy benchmarks do. The test set is never seen here.

The same seed on the same device gives the same weights (JAX's random keys are derived from it; on a GPU, XLA's
deterministic kernels are asked for when digitlib is imported). JAX only; other backends get one clear error.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .training import learning_rate_schedule

if TYPE_CHECKING:
    import keras

    from .prepare import Splits

EVAL_BATCH = 2000  # validation images per step of the on-device evaluation


@dataclass
class DeviceFit:
    """What :func:`fit_on_device` did: epochs run, each epoch's validation accuracy and seconds (from the call's
    start to that epoch's accuracy on the host), and the epoch that first reached `stop_at` (None if none did)."""

    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    reached_at: int | None = None

    @property
    def epochs(self) -> int:
        return len(self.val_accuracy)

    @property
    def train_seconds(self) -> float:
        return self.seconds[-1] if self.seconds else 0.0


def fit_on_device(model: keras.Model, splits: Splits, *, epochs: int, batch_size: int, learning_rate: float,
                  schedule: str = "one-cycle", label_smoothing: float = 0.0, seed: int = 0,
                  stop_at: float | None = None, whole_epochs: bool | None = None) -> DeviceFit:
    """Train the built `model` on `splits`' training images with Adam (the learning rate and schedule of
    :func:`digitlib.train.training.learning_rate_schedule`, over the planned `epochs`) and the cross-entropy of
    :func:`digitlib.losses.crossentropy` (labels smoothed by `label_smoothing`), each epoch shuffled on the
    device and cut into whole batches of `batch_size` (the last, partial batch is left out). Stops after the first
    epoch whose validation accuracy reaches `stop_at`. The trained values are written back into `model`; an
    interrupted fit (Ctrl-C, an error) writes back those of the last compiled call that finished, or leaves `model` as
    it was.

    The clock runs from the call (the data already on the device or not) to the last epoch's validation accuracy
    on the host: it includes tracing and compiling, or loading the compiled programs from JAX's persistent
    compilation cache when one is set ($JAX_COMPILATION_CACHE_DIR). `whole_epochs`: one compiled call per epoch
    (the default on an accelerator) or one per batch (the default on a CPU, where XLA runs a loop of convolutions
    about 4x slower than the same steps as separate calls); both run the same steps on the same batches."""
    import keras

    if len(splits.x_val) == 0:
        raise ValueError("fit_on_device needs a validation split (validation_split > 0)")
    steps = len(splits.x_train) // batch_size
    if epochs < 1 or steps < 1:
        raise ValueError(f"need at least one epoch and one whole batch; got {epochs} epochs, {len(splits.x_train)} "
                         f"training images at batch {batch_size}")
    if keras.backend.backend() != "jax":
        raise ValueError(f"fit_on_device trains with JAX; this Keras runs {keras.backend.backend()} "
                         "(set KERAS_BACKEND=jax before Keras is imported)")
    import jax
    import jax.numpy as jnp

    from ..losses import crossentropy

    started = time.perf_counter()
    x_train, y_train = jax.device_put(splits.x_train), jax.device_put(splits.y_train.astype("int32"))
    x_val, y_val = jax.device_put(splits.x_val), jax.device_put(splits.y_val.astype("int32"))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate_schedule(learning_rate, schedule, epochs * steps))
    optimizer.build(model.trainable_variables)
    loss = crossentropy(label_smoothing)

    def batch_loss(trainable, non_trainable, images, labels):
        probabilities, non_trainable = model.stateless_call(trainable, non_trainable, images, training=True)
        return loss(labels, probabilities), non_trainable

    gradient = jax.value_and_grad(batch_loss, has_aux=True)

    def step(state, positions, images, labels):
        trainable, non_trainable, optimizer_state = state
        (_, non_trainable), grads = gradient(trainable, non_trainable, images[positions], labels[positions])
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return trainable, non_trainable, optimizer_state

    # The images go in as arguments, not closed over: the programs then depend on shapes alone, so JAX's
    # persistent compilation cache serves any seed and split of the same size.
    @jax.jit
    def shuffle(key):
        return jax.random.permutation(key, len(splits.x_train))[: steps * batch_size].reshape(steps, batch_size)

    @functools.partial(jax.jit, donate_argnums=0)
    def run_epoch(state, order, images, labels):
        return jax.lax.scan(lambda state, positions: (step(state, positions, images, labels), None), state, order)[0]

    run_step = jax.jit(step, donate_argnums=0)

    def epoch(state, key):
        order = shuffle(key)
        if whole_epochs:
            return run_epoch(state, order, x_train, y_train)
        for positions in order:
            state = finished[0] = run_step(state, positions, x_train, y_train)
        return state

    val_steps = -(-len(splits.x_val) // EVAL_BATCH)
    padding = val_steps * EVAL_BATCH - len(splits.x_val)
    x_val = jnp.pad(x_val, ((0, padding), (0, 0), (0, 0), (0, 0))).reshape(val_steps, EVAL_BATCH, *x_val.shape[1:])
    y_val = jnp.pad(y_val, (0, padding), constant_values=-1).reshape(val_steps, EVAL_BATCH)  # padding: never right

    @jax.jit
    def val_correct(trainable, non_trainable, images, labels):
        def count(total, batch):
            probabilities, _ = model.stateless_call(trainable, non_trainable, batch[0], training=False)
            return total + jnp.sum(jnp.argmax(probabilities, axis=-1) == batch[1]), None

        return jax.lax.scan(count, jnp.int32(0), (images, labels))[0]

    # Copies: each call donates the state it is given, and the model's own buffers must outlive an interrupted fit.
    state = jax.tree.map(jnp.copy, ([v.value for v in model.trainable_variables],
                                    [v.value for v in model.non_trainable_variables],
                                    [v.value for v in optimizer.variables]))
    finished = [state]  # the state the last finished call returned
    keys = jax.random.split(jax.random.key(seed), epochs)
    fit = DeviceFit()
    try:
        for index in range(epochs):
            state = finished[0] = epoch(state, keys[index])
            accuracy = int(val_correct(state[0], state[1], x_val, y_val)) / len(splits.x_val)
            fit.val_accuracy.append(accuracy)
            fit.seconds.append(time.perf_counter() - started)
            if stop_at is not None and accuracy >= stop_at:
                fit.reached_at = index + 1
                break
    finally:  # unless a call was interrupted after it was given that state (donated, so gone)
        values = finished[0][0] + finished[0][1]
        if not any(value.is_deleted() for value in values):
            for variable, value in zip(model.trainable_variables + model.non_trainable_variables, values):
                variable.assign(value)
    return fit
