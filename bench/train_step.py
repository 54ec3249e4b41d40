"""Where a training step of `fast-plain` spends its time: the same step with parts of the network moved or taken out.

One compiled training step (forward, gradients, Adam) on a fixed batch of random images, timed for each variant of
`fast-plain`'s network in turn, round after round, so that drifts in machine speed hit every variant alike; the
median over the rounds. Variants: the network with Keras' batch norm (fast version 3); with TensorFlow's fused
batch norm (digitlib.normalization, the same arithmetic: fast version 4); without any batch norm (what normalizing
costs); each convolution max-pooled before its batch norm instead of after (batch norm on a quarter of the values);
the same for the first convolution only. TensorFlow, op determinism on, as `digitlib report` trains.

    python bench/train_step.py [--batch 256] [--steps 30] [--rounds 5] [--name train_step]
"""

from __future__ import annotations

import argparse

from common import median, write_result


def variants() -> dict:
    """Label: the network's layers after its input (Keras layers, freshly built)."""
    from keras import layers

    from digitlib.normalization import FusedBatchNormalization

    def network(first: str, second: str, normalized: bool = True, norm_layer=layers.BatchNormalization) -> list:
        def norm():
            return [norm_layer(momentum=0.9), layers.ReLU()] if normalized else [layers.ReLU()]

        def block(filters, size, order):
            convolution, pool = layers.Conv2D(filters, size, use_bias=False), layers.MaxPooling2D()
            return [convolution, *norm(), pool] if order == "norm, pool" else [convolution, pool, *norm()]
        dense = [layers.Dense(128, use_bias=False), *norm()]
        return [*block(16, 5, first), *block(32, 3, second), layers.Flatten(), *dense, layers.Dropout(0.2),
                layers.Dense(10, activation="softmax")]

    return {
        "Keras' batch norm, each convolution normalized then pooled (version 3)": network("norm, pool", "norm, pool"),
        "fused batch norm, the same order (version 4)": network("norm, pool", "norm, pool",
                                                                 norm_layer=FusedBatchNormalization),
        "without batch norm": network("norm, pool", "norm, pool", normalized=False),
        "each convolution pooled, then normalized (Keras' batch norm)": network("pool, norm", "pool, norm"),
        "the first convolution pooled, then normalized (Keras' batch norm)": network("pool, norm", "norm, pool"),
    }


def step_function(layer_list: list, batch: int):
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.Sequential([keras.Input((28, 28, 1)), *layer_list])
    optimizer, loss = keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy()
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, 28, 28, 1), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, batch))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        optimizer.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
        return value

    step(), step()  # traced and warm
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30, help="steps timed together, per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--name", default="train_step")
    arguments = parser.parse_args()
    import time

    import digitlib

    digitlib.set_reproducible(0)  # TensorFlow's op determinism, as a report trains
    steps = {label: step_function(layer_list, arguments.batch) for label, layer_list in variants().items()}
    seconds: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(arguments.rounds):
        for label, step in steps.items():
            started = time.perf_counter()
            for _ in range(arguments.steps):
                step()
            seconds[label].append((time.perf_counter() - started) / arguments.steps)
    baseline = median(seconds[next(iter(seconds))])
    per_epoch = -(-54_000 // arguments.batch)
    rows = [[label, f"{1000 * median(s):.1f}", f"{median(s) / baseline:.2f}", f"{per_epoch * median(s):.1f}"]
            for label, s in seconds.items()]
    write_result(arguments.name, f"A training step of fast-plain's network, batch {arguments.batch}: what its parts "
                 f"cost (medians of {arguments.rounds} rounds of {arguments.steps} steps)",
                 ["variant", "ms per step", "against as it is", f"seconds per epoch of {per_epoch} steps"], rows,
                 {"batch": arguments.batch, "steps": arguments.steps, "rounds": arguments.rounds, "seconds": seconds})


if __name__ == "__main__":
    main()
