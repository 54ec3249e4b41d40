import numpy as np
import pytest

from digitlib.schedules import CycleThenTail


def _rates(schedule, steps) -> list[float]:
    return [float(schedule(step)) for step in steps]


@pytest.mark.jax
def test_the_cycle_runs_its_own_steps_then_the_tail_holds():
    import keras

    cycle = keras.optimizers.schedules.CosineDecay(0.001, decay_steps=30, alpha=0.01, warmup_target=0.01,
                                                   warmup_steps=10)
    schedule = CycleThenTail(cycle, 40, 0.001)
    np.testing.assert_allclose(_rates(schedule, range(40)), _rates(cycle, range(40)), rtol=1e-6)
    np.testing.assert_allclose(_rates(schedule, [40, 41, 100, 10_000]), [0.001] * 4, rtol=1e-6)
    assert _rates(cycle, [40])[0] == pytest.approx(1e-4)  # where the cycle alone would stay


def test_a_cycle_of_no_steps_or_a_tail_of_no_rate_is_refused():
    import keras

    cycle = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=10)
    for steps, tail in ((0, 0.001), (10, 0.0), (10, -1.0)):
        with pytest.raises(ValueError, match="cycle_steps must be at least 1 and tail greater than 0"):
            CycleThenTail(cycle, steps, tail)


@pytest.mark.jax
def test_a_model_compiled_with_a_tail_loads_back_in_safe_mode_with_its_schedule(tmp_path):
    import keras

    from digitlib import build_model
    from digitlib.modelfile import load_trained_model, save_model
    from digitlib.train.training import compile_model

    model = compile_model(build_model("seed"), 0.01, steps=100, schedule="one-cycle", cycle_steps=40)
    images = np.random.default_rng(1).random((4, 28, 28, 1)).astype(np.float32)
    model.train_on_batch(images, np.arange(4))
    loaded = load_trained_model(save_model(tmp_path, model))
    rate = keras.optimizers.serialize(loaded.optimizer)["config"]["learning_rate"]
    assert rate["class_name"] == "CycleThenTail" and rate["config"]["cycle_steps"] == 40
    assert rate["config"]["tail"] == pytest.approx(0.001)
    np.testing.assert_array_equal(loaded.predict_on_batch(images), model.predict_on_batch(images))
