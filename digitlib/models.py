"""The model registry: every network a report can train, by name, with its training recipe.

A recipe is what the model was tuned with (epochs, batch size, learning rate,
schedule, label smoothing, validation split). Report parameters left at None take the chosen model's recipe, so
``-p model seed`` always means the seed's own 10 epochs of batch 32.
Models are built uncompiled; :mod:`digitlib.train.training` compiles and fits them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Keras is imported by the builders, so the CLI validates names instantly
    import keras

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
SCHEDULES = ("constant", "one-cycle")


def seed_model() -> keras.Model:
    """The seed's baseline: one linear 3x3 convolution with 28 filters, 2x2 max-pooling,
    a 128-unit ReLU layer with 20% dropout and a softmax over the ten digits (98.5% in 10 epochs)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(28, kernel_size=(3, 3)),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="seed",
    )


def keras_example_model() -> keras.Model:
    """Keras' "Simple MNIST convnet" example: two ReLU convolutions (32 and 64 filters), each
    followed by 2x2 max-pooling, 50% dropout and a softmax (published at ~99.2% after 15 epochs)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="keras_example",
    )


def fast_model() -> keras.Model:
    """A small CNN tuned for time to accuracy on a laptop CPU that also reads other writers' digits: each
    training image is turned, slanted, resized, shifted and its pen made thicker or thinner a little at
    random (writer variation, training only), and 35% of the 1s get a flag, some a base, as many hands
    write them; then a 5x5 convolution with 16 filters and a 3x3 with 32, each
    batch-normalized and max-pooled, a 128-unit layer with 20% dropout and a softmax; trained with a
    one-cycle learning rate at batch 256 (about 99.6% after 12 epochs, about a minute on 2 CPU cores;
    bench/results/ has the measurements)."""
    import keras

    from .augmentation import WriterVariation

    return keras.Sequential([keras.Input(shape=INPUT_SHAPE), WriterVariation(), *_fast_layers()], name="fast")


def fast_plain_model() -> keras.Model:
    """`fast` without writer variation or flagged 1s: the same network and recipe with no augmentation, kept
    to measure what the augmentation costs and buys."""
    import keras

    return keras.Sequential([keras.Input(shape=INPUT_SHAPE), *_fast_layers()], name="fast_plain")


def strong_model() -> keras.Model:
    """`fast` twice as wide and trained for four times as many epochs: the same writer variation and flagged 1s, then a
    5x5 convolution with 32 filters and a 3x3 with 64, each batch-normalized and max-pooled, a 256-unit layer
    with 30% dropout and a softmax; a one-cycle learning rate at batch 256 for 50 epochs, against labels
    smoothed by 0.1 (about 99.7%, about 7.5 minutes on 2 CPU cores; bench/results/accuracy.md has the measurements)."""
    import keras

    from .augmentation import WriterVariation

    return keras.Sequential(
        [keras.Input(shape=INPUT_SHAPE), WriterVariation(), *_fast_layers(filters=(32, 64), units=256, dropout=0.3)],
        name="strong",
    )


def _fast_layers(filters: tuple[int, int] = (16, 32), units: int = 128, dropout: float = 0.2) -> list:
    """`fast`'s network (and, twice as wide, `strong`'s): two batch-normalized convolutions (5x5, then 3x3),
    each max-pooled, a batch-normalized dense layer with dropout and a softmax. Batch norm trains as one fused
    operation on TensorFlow (digitlib.normalization; since fast version 4, fast-plain version 2)."""
    from keras import layers

    from .normalization import FusedBatchNormalization

    def normalized(layer):  # convolution or dense without bias, then batch norm (one fused op) and ReLU
        return [layer, FusedBatchNormalization(momentum=0.9), layers.ReLU()]

    return [
        *normalized(layers.Conv2D(filters[0], kernel_size=(5, 5), use_bias=False)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        *normalized(layers.Conv2D(filters[1], kernel_size=(3, 3), use_bias=False)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        *normalized(layers.Dense(units, use_bias=False)),
        layers.Dropout(dropout),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ]


def jax_compilable(model: keras.Model) -> keras.Model:
    """`model`, compiled as a whole on JAX although it holds Keras' random image layers.

    Keras marks RandomRotation, RandomZoom and RandomTranslation as not XLA-compilable (TensorFlow's XLA
    lacks their ops), and a model holding them (`strong` version 1 and its ensembles, whose runs may still be
    loaded) then trains and predicts op by op on JAX: 0.45 s a training step on an H200 that is 1% busy. JAX
    compiles them, so on JAX they are let be; a model loaded back from model.keras gets the same. Other
    backends: unchanged.
    """
    import keras

    if keras.backend.backend() != "jax":
        return model
    random_image_layers = (keras.layers.RandomRotation, keras.layers.RandomZoom, keras.layers.RandomTranslation)
    marked = False
    for layer in model._flatten_layers():
        if isinstance(layer, random_image_layers) and not layer.supports_jit:
            layer.supports_jit = marked = True
    if marked and getattr(model, "compiled", False) and model.jit_compile is False:
        model.jit_compile = True  # compiled while loading, when Keras still thought it could not be
    return model


def ensemble_model(members: int = 3) -> keras.Model:
    """An ensemble of `members` strong CNNs, trained one after another with the seeds seed, seed+1, ...
    (each exactly the `strong` model of that seed), whose softmax outputs are averaged."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=INPUT_SHAPE)
    outputs = [keras.Sequential([strong_model()], name=f"member_{k}")(inputs) for k in range(members)]
    return keras.Model(inputs, layers.Average(name="average")(outputs), name="ensemble")


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member networks of an ensemble built by :func:`ensemble_model`; [] for any other model."""
    if model.name != "ensemble":
        return []
    return [layer.layers[0] for layer in model.layers if layer.name.startswith("member_")]


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, nested models (a member, an augmentation block) flattened."""
    leaves = []
    for layer in model.layers:
        leaves += leaf_layers(layer) if hasattr(layer, "layers") else [layer]
    return leaves


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, its size, the recipe it trains with by default, and how long an
    epoch takes."""

    build: Callable[[], keras.Model]
    # The size of one network (of an ensemble: one member, as members train one at a time), written
    # down so that sizing a run needs no Keras; tests/test_resources.py checks them against the built
    # model. `parameters`: count_params(); `activations`: the per-image output sizes of its layers, summed.
    parameters: int
    activations: int
    epochs: int
    batch_size: int
    learning_rate: float
    # Rough minutes of one epoch on the full training set on 2 CPU cores (the README's timings), of one
    # network (an ensemble's members train one at a time): what sizing a sweep reads.
    minutes_per_epoch: float
    schedule: str = "constant"  # "one-cycle": linear warm-up to learning_rate, then cosine decay
    label_smoothing: float = 0.0  # share of each training label spread over the ten digits (digitlib.losses)
    validation_split: float = 0.1  # share of the training set held out to watch overfitting
    members: int | None = None  # ensembles only: how many networks are averaged
    # Raised whenever the network or its recipe changes what it learns: runs of another version are
    # never reused or skipped for this one (it is part of a run's identity).
    version: int = 1
    # Share of the training 1s the batch builder draws with a flag each epoch (digitlib.augmentation.flag_ones).
    flagged_ones: float = 0.0

    @property
    def description(self) -> str:
        return " ".join((self.build.__doc__ or "").split())


MODELS: dict[str, ModelSpec] = {
    "seed": ModelSpec(seed_model, parameters=607_394, activations=28_658,
                      epochs=10, batch_size=32, learning_rate=0.001, minutes_per_epoch=0.15, validation_split=0.0),
    "keras-example": ModelSpec(keras_example_model, parameters=34_826, activations=39_594,
                               epochs=15, batch_size=128, learning_rate=0.001, minutes_per_epoch=0.13),
    "fast-plain": ModelSpec(fast_plain_model, parameters=109_402, activations=41_674,
                            epochs=12, batch_size=256, learning_rate=0.005, minutes_per_epoch=0.08,
                            schedule="one-cycle", version=2),
    "fast": ModelSpec(fast_model, parameters=109_402, activations=41_674 + 784,
                      epochs=12, batch_size=256, learning_rate=0.005,
                      minutes_per_epoch=0.11, schedule="one-cycle",  # 12 epochs 60-77 s, quiet days (end_to_end.md)
                      flagged_ones=0.35, version=4),
    "strong": ModelSpec(strong_model, parameters=432_810, activations=84_122,
                        epochs=50, batch_size=256, learning_rate=0.005, minutes_per_epoch=0.16,
                        schedule="one-cycle", label_smoothing=0.1, flagged_ones=0.35, version=3),
    "ensemble": ModelSpec(ensemble_model, parameters=432_810, activations=84_122,  # one strong member's
                          epochs=50, batch_size=256, learning_rate=0.005, minutes_per_epoch=0.16,  # a member's
                          schedule="one-cycle", label_smoothing=0.1, flagged_ones=0.35, members=3, version=3),
}
MEMBER_MODEL = "strong"  # what an ensemble's members are
# The registry lists its models from the least to the most capable: that order is the ladder. Where one
# finished model must be chosen for the user (`digitlib predict` without --model), a higher rung wins over any
# validation accuracy of a lower one (fast-plain, without writer variation, reads other writers' digits worse).
LADDER: tuple[str, ...] = tuple(MODELS)


def flagged_ones(network: keras.Model) -> float:
    """The share of training 1s drawn with a flag for `network`, a model of the registry known by its name (as
    build_model names it); 0 for any other network."""
    spec = MODELS.get(network.name.replace("_", "-"))
    return spec.flagged_ones if spec else 0.0


def model_names() -> list[str]:
    return list(MODELS)


def model_spec(name: str) -> ModelSpec:
    """The registered model called `name`; unknown names list the valid ones."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}") from None


def capability(name: str) -> int:
    """The rung of model `name` on :data:`LADDER`: higher is more capable."""
    model_spec(name)  # unknown names list the valid ones
    return LADDER.index(name)


def describe_model(name: str) -> str:
    """The one-paragraph description of a registered model (its builder's docstring)."""
    return model_spec(name).description


def build_model(name: str, members: int | None = None) -> keras.Model:
    """A fresh, uncompiled model from the registry; `members` sizes an ensemble (None: its recipe)."""
    spec = model_spec(name)
    if spec.members is None:
        if members is not None:
            raise ValueError(f"members applies only to ensembles, not to model {name!r}")
        return spec.build()
    return spec.build(members or spec.members)


def layers_table(model: keras.Model):
    """One row per layer (name, type, output shape, parameters): a model summary that renders as a table."""
    import pandas as pd

    rows = [
        {"layer": layer.name, "type": type(layer).__name__,
         "output shape": str(tuple(layer.output.shape)), "parameters": layer.count_params()}
        for layer in model.layers
    ]
    return pd.DataFrame(rows).set_index("layer")
