"""A checkpoint restores everything training depends on, so a resumed run continues exactly."""

import io

import keras
import numpy as np
import pytest

from digitlib import build_model, fit_model, set_reproducible

RECIPE = {"epochs": 3, "batch_size": 64, "learning_rate": 0.005, "schedule": "one-cycle", "seed": 7}


class StopAfter(keras.callbacks.Callback):
    """Ends training after `epochs` epochs, as a kill right after a checkpoint would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


@pytest.mark.jax
@pytest.mark.e2e
def test_resuming_from_a_checkpoint_equals_training_straight_through(small_splits, tmp_path):
    """Also when the run was killed after writing the next epoch's weights but before their state (a kill -9 of
    `digitlib report` leaves its kernel to train on until it notices)."""
    set_reproducible(0)
    straight = build_model("fast")
    straight_result = fit_model(straight, small_splits, **RECIPE, stream=io.StringIO())

    set_reproducible(0)
    interrupted = build_model("fast")
    fit_model(interrupted, small_splits, **RECIPE, checkpoint_dir=tmp_path, callbacks=[StopAfter(1)],
              stream=io.StringIO())

    # killed between an epoch's two writes: the second epoch's weights saved, the state that counts them not
    from digitlib.train.training import _weights_file

    straight.save_weights(tmp_path / _weights_file(2))
    # and a kill in the middle of a write leaves its temporaries, which the resumed run clears away
    partial = [tmp_path / ".checkpoint-odd.weights.h5.4242.weights.h5", tmp_path / ".checkpoint.json.k7x_2q.tmp"]
    for path in partial:
        path.write_bytes(b"half a file")
    (tmp_path / ".checkpoint.json.notes").write_text("not a temporary of ours: kept")

    set_reproducible(123)  # a new process: different random state until the checkpoint restores it
    resumed = build_model("fast")
    log = io.StringIO()
    result = fit_model(resumed, small_splits, **RECIPE, checkpoint_dir=tmp_path, stream=log)
    assert "resuming after epoch 1/3" in log.getvalue()
    assert not any(path.exists() for path in partial) and (tmp_path / ".checkpoint.json.notes").exists()
    assert [line.split()[1] for line in log.getvalue().splitlines()[1:]] == ["2/3", "3/3"]
    assert result.epochs == 3 and result.history == straight_result.history
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
