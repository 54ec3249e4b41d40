"""The learning rate of a one-cycle schedule shorter than the training: the cycle, then a constant tail.

Registered, so that a model.keras compiled with it (its compile configuration names the optimizer's schedule) loads
in Keras' safe mode. :func:`digitlib.train.training.learning_rate_schedule` builds it.

Keras is imported here at module level: import this module only where a model is compiled or loaded.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="digitlib")
class CycleThenTail(keras.optimizers.schedules.LearningRateSchedule):
    """`cycle` (a schedule) for the first `cycle_steps` steps, then the constant rate `tail`."""

    def __init__(self, cycle: keras.optimizers.schedules.LearningRateSchedule, cycle_steps: int, tail: float):
        if cycle_steps < 1 or not tail > 0:
            raise ValueError(f"cycle_steps must be at least 1 and tail greater than 0, not {cycle_steps!r}, {tail!r}")
        self.cycle = cycle
        self.cycle_steps = int(cycle_steps)
        self.tail = float(tail)

    def __call__(self, step):
        return keras.ops.where(step < self.cycle_steps, self.cycle(step), self.tail)

    def get_config(self) -> dict:
        return {"cycle": keras.optimizers.schedules.serialize(self.cycle), "cycle_steps": self.cycle_steps,
                "tail": self.tail}

    @classmethod
    def from_config(cls, config: dict) -> CycleThenTail:
        return cls(**{**config, "cycle": keras.optimizers.schedules.deserialize(config["cycle"])})
