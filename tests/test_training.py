import io
import os

import numpy as np
import pytest

from digitlib import build_model, evaluate_model, fit_model, set_reproducible
from digitlib.backends import configured_backend


@pytest.mark.jax
def test_one_epoch_on_a_small_slice_beats_chance_by_far(trained, small_splits):
    model, result = trained
    evaluation = evaluate_model(model, small_splits.x_test, small_splits.y_test)
    assert evaluation.accuracy > 0.75  # chance is 0.10
    assert result.epochs == 1 and len(result.history["loss"]) == 1
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.train_seconds > 0


def _fit(splits, seed, stream):
    set_reproducible(seed)
    model = build_model("seed")
    result = fit_model(model, splits, epochs=2, batch_size=64, learning_rate=0.001, stream=stream)
    return model, result


@pytest.mark.jax
@pytest.mark.e2e
def test_same_seed_same_numbers_and_one_line_per_epoch(small_splits):
    log = io.StringIO()
    first_model, first = _fit(small_splits, 3, log)
    second_model, second = _fit(small_splits, 3, open(os.devnull, "w"))
    assert first.history == second.history
    for a, b in zip(first_model.get_weights(), second_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    assert "val_accuracy" in lines[1] and lines[1].endswith(" s")


@pytest.mark.jax
@pytest.mark.e2e
def test_different_seed_different_numbers(small_splits):
    _, first = _fit(small_splits, 3, open(os.devnull, "w"))
    _, other = _fit(small_splits, 4, open(os.devnull, "w"))
    assert first.history != other.history


@pytest.mark.skipif(configured_backend() != "tensorflow", reason="TensorFlow's own op determinism")
def test_reproducibility_reports_tensorflows_real_op_determinism():
    from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled

    disable_op_determinism()
    assert not is_op_determinism_enabled()
    state = set_reproducible(1)
    assert state.seed == 1 and state.backend == "tensorflow"
    assert state.op_determinism is True and is_op_determinism_enabled()  # TensorFlow's own setting


def test_fit_model_trains_one_network_and_points_an_ensemble_to_train_network(small_splits):
    with pytest.raises(ValueError, match="use digitlib.train_network"):
        fit_model(build_model("ensemble", members=2), small_splits, epochs=1, batch_size=64, learning_rate=0.001)


@pytest.mark.jax
@pytest.mark.skipif(configured_backend() != "jax", reason="JAX's deterministic XLA kernels")
def test_jax_runs_with_deterministic_xla_kernels_asked_for_before_it_started():
    state = set_reproducible(1)
    assert state.backend == "jax" and state.op_determinism is True
    assert "--xla_gpu_deterministic_ops=true" in os.environ["XLA_FLAGS"]  # importing digitlib set it
