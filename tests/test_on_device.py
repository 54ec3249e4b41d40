import numpy as np
import pytest

from digitlib import build_model, set_reproducible
from digitlib.train.on_device import fit_on_device


def _fit(splits, seed: int, **options):
    set_reproducible(seed)
    model = build_model("fast-plain")
    fit = fit_on_device(model, splits, batch_size=64, learning_rate=0.01, seed=seed, **options)
    return model, fit


@pytest.mark.jax
def test_an_epoch_as_one_program_learns_stops_at_the_threshold_and_writes_the_weights_back(small_splits):
    import keras

    if keras.backend.backend() != "jax":  # make test's TensorFlow pass: one clear error, nothing trained
        with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
            _fit(small_splits, 0, epochs=1)
        return
    set_reproducible(0)
    untrained = build_model("fast-plain").predict(small_splits.x_val, verbose=0)
    model, fit = _fit(small_splits, 0, epochs=4, stop_at=0.6, whole_epochs=True)  # the GPU's path, on the CPU
    assert fit.reached_at == fit.epochs < 4 and fit.val_accuracy[-1] >= 0.6 > max(fit.val_accuracy[:-1], default=0)
    assert len(fit.seconds) == fit.epochs and fit.seconds == sorted(fit.seconds) and fit.train_seconds > 0
    predicted = model.predict(small_splits.x_val, verbose=0)
    assert np.mean(predicted.argmax(axis=1) == small_splits.y_val) == pytest.approx(fit.val_accuracy[-1])
    assert not np.allclose(predicted, untrained)


@pytest.mark.jax
@pytest.mark.full  # make test trains on the device above
def test_same_seed_same_weights_and_a_step_per_call_learns_as_well(small_splits):
    import keras

    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
            _fit(small_splits, 0, epochs=1)
        return
    first_model, first = _fit(small_splits, 5, epochs=2, whole_epochs=False)
    second_model, second = _fit(small_splits, 5, epochs=2, whole_epochs=False)
    assert first.val_accuracy == second.val_accuracy and first.val_accuracy[-1] > 0.3  # chance: 0.1
    for a, b in zip(first_model.get_weights(), second_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    _, whole = _fit(small_splits, 5, epochs=2, whole_epochs=True)  # the same steps on the same batches
    assert whole.val_accuracy == pytest.approx(first.val_accuracy, abs=0.02)


@pytest.mark.jax
@pytest.mark.full  # two fits, one interrupted: ~20 s
def test_an_interrupted_fit_leaves_a_model_that_still_predicts(small_splits):
    """Ctrl-C lands wherever it lands (between steps, or inside a call that was given the state and so gave it up):
    the model gets the values of the last finished step or keeps its own, and either way its buffers are alive."""
    import signal
    import time

    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("JAX only: another backend's refusal is checked above")  # make test-full's JAX pass runs it
    set_reproducible(1)
    model = build_model("fast-plain")
    started = time.perf_counter()
    fit_on_device(model, small_splits, epochs=1, batch_size=64, learning_rate=0.01, whole_epochs=False)
    one_epoch = time.perf_counter() - started  # compiling included, as in every call

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 2 * one_epoch)  # well into training: the first call donated long ago
        with pytest.raises(KeyboardInterrupt):
            fit_on_device(model, small_splits, epochs=1000, batch_size=64, learning_rate=0.01, whole_epochs=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    predicted = model.predict(small_splits.x_val, verbose=0)  # before: "Array has been deleted"
    assert np.isfinite(predicted).all() and np.mean(predicted.argmax(axis=1) == small_splits.y_val) > 0.3


def test_bad_plans_get_one_clear_line(small_splits):
    model = build_model("seed")
    with pytest.raises(ValueError, match="at least one epoch and one whole batch"):
        fit_on_device(model, small_splits, epochs=1, batch_size=10_000, learning_rate=0.01)
