import io
import json
import os
import re

import numpy as np
import pytest

from digitlib import build_model, evaluate_model, fit_model, set_reproducible
from digitlib.backends import configured_backend
from digitlib.layout import CHECKPOINT_STATE
from digitlib.train import training


@pytest.mark.jax
def test_one_epoch_on_a_small_slice_beats_chance_by_far(trained, small_splits):
    model, result = trained
    evaluation = evaluate_model(model, small_splits.x_test, small_splits.y_test)
    assert evaluation.accuracy > 0.75  # chance is 0.10
    assert result.epochs == 1 and len(result.history["loss"]) == 1
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.train_seconds > 0


@pytest.mark.jax
def test_smoothed_labels_train_the_network_against_the_smoothed_loss(trained, small_splits):
    """The trained fixture's fit again, its labels smoothed: the loss it minimizes and reports is the smoothed one
    (which a confident network cannot take below the smoothing's own entropy), and the network learns otherwise."""
    from digitlib.losses import SmoothedSparseCrossentropy

    plain, plain_result = trained
    set_reproducible(0)
    model = build_model("seed")
    result = fit_model(model, small_splits, epochs=1, batch_size=32, learning_rate=0.001, label_smoothing=0.1,
                       stream=io.StringIO())
    assert isinstance(model.loss, SmoothedSparseCrossentropy) and model.loss.label_smoothing == 0.1
    assert result.history["loss"][0] > plain_result.history["loss"][0]
    assert not np.array_equal(model.layers[-1].get_weights()[0], plain.layers[-1].get_weights()[0])
    assert evaluate_model(model, small_splits.x_test, small_splits.y_test).accuracy > 0.75


def _fit(splits, seed, stream):
    set_reproducible(seed)
    model = build_model("seed")
    result = fit_model(model, splits, epochs=2, batch_size=64, learning_rate=0.001, stream=stream)
    return model, result


@pytest.mark.jax
@pytest.mark.e2e
@pytest.mark.full  # make test: a resumed fit equals one straight through: the same numbers (test_checkpoint)
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


def test_a_bar_for_a_person_watching_not_for_papermill_nor_outside_a_kernel():
    assert training.interactive_frontend({"content": {"allow_stdin": True, "code": "..."}})  # JupyterLab
    assert not training.interactive_frontend({"content": {"allow_stdin": False, "code": "..."}})  # nbclient
    assert not training.interactive_frontend({})  # a kernel before its first request
    assert training._current_request() is None and not training.interactive_frontend()  # pytest: no kernel


def _visible(text: str) -> list[str]:
    """The lines a notebook shows for `text`: a carriage return starts its line anew."""
    return [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n") if line.rsplit("\r", 1)[-1].strip()]


@pytest.mark.e2e
def test_papermill_logs_keep_one_line_per_epoch_and_jupyterlab_also_sees_the_batches(small_splits, monkeypatch):
    logs, fits = {}, {}
    for allow_stdin in (False, True):  # as nbclient (papermill) and as JupyterLab send it
        monkeypatch.setattr(training, "_current_request", lambda a=allow_stdin: {"content": {"allow_stdin": a}})
        logs[allow_stdin] = io.StringIO()
        fits[allow_stdin] = _fit(small_splits, 3, logs[allow_stdin])
    # on TensorFlow papermill's fit runs each epoch in one call, JupyterLab's a call per batch: the same numbers
    (batch_model, batch_result), (bar_model, bar_result) = fits[False], fits[True]
    assert batch_result.history == bar_result.history
    for a, b in zip(batch_model.get_weights(), bar_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    papermill, jupyterlab = logs[False].getvalue(), logs[True].getvalue()
    one_line = r"epoch \d/2  accuracy \S+  loss \S+  val_accuracy \S+  val_loss \S+  \d+\.\d s\n"
    assert "\r" not in papermill and re.fullmatch(f"({one_line}){{2}}", papermill), papermill
    assert re.search(r"\repoch 1/2: +\d+%\|.*\| \d+/17 ", jupyterlab), jupyterlab  # 17 batches of 64 (1,080 images)
    assert [line.split("  ")[0] for line in _visible(jupyterlab)] == ["epoch 1/2", "epoch 2/2"]  # bars cleared


def test_a_whole_epoch_per_call_on_tensorflow_unless_a_bar_must_move():
    expected = 211 if configured_backend() == "tensorflow" else 1  # JAX would unroll the calls into one program
    assert training.steps_per_call(211, progress_bar=False) == expected
    assert training.steps_per_call(211, progress_bar=True) == 1


@pytest.mark.e2e
def test_the_signal_as_real_kernels_send_it(tmp_path):
    """papermill's kernel sees no one watching; a kernel asked to run a cell with stdin allowed does."""
    import nbformat
    import papermill
    from jupyter_client.manager import start_new_kernel

    code = "from digitlib.train.training import interactive_frontend\nprint(interactive_frontend())"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    papermill.execute_notebook(str(tmp_path / "probe.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "False"
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        printed = []
        for allow_stdin in (True, False):
            client.execute_interactive(code, allow_stdin=allow_stdin, timeout=120, output_hook=lambda message: (
                printed.append(message["content"]["text"].strip()) if message["msg_type"] == "stream" else None))
        assert printed == ["True", "False"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


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
def test_jax_is_asked_for_deterministic_xla_kernels_and_a_gpu_run_says_whether_it_got_them(monkeypatch):
    """On a CPU XLA is deterministic; on a GPU only the flag, set before JAX started, makes it so. No GPU here:
    the run's record is checked against a device that says it is one."""
    import jax

    assert "--xla_gpu_deterministic_ops=true" in os.environ["XLA_FLAGS"]  # importing digitlib set it
    gpu = type("Device", (), {"platform": "gpu"})()
    monkeypatch.setattr(jax, "devices", lambda *backend: [gpu])
    assert set_reproducible(1).op_determinism is True
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    assert set_reproducible(1).op_determinism is False


def test_one_fit_reads_each_epoch_in_its_own_order_whatever_the_prefetching():
    """The batches of one fit over epochs 2-4 are each epoch's epoch_order, sliced; batch i depends on i alone,
    so reading them out of order (as prefetching across an epoch's end does) gives the same images."""
    from digitlib.train.training import _epoch_batches, epoch_order

    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 28, 28, 1), np.float32)
    y = np.arange(10) % 10
    batches = _epoch_batches(x, y, batch_size=4, seed=3, first_epoch=2, epochs=5)
    assert (batches.per_epoch, len(batches)) == (3, 9)  # 10 images in batches of 4: 4, 4 and a last 2
    expected = {(epoch, b): epoch_order(10, 3, epoch)[4 * b:4 * b + 4] for epoch in (2, 3, 4) for b in range(3)}
    for index in [8, 3, 2, 0, 5, 4, 1, 7, 6]:  # out of order, across epochs' ends
        epoch, b = 2 + index // 3, index % 3
        images, labels = batches[index]
        chosen = list(expected[epoch, b])
        assert list(images[:, 0, 0, 0].astype(int)) == chosen and list(labels) == list(y[chosen])
    assert len(batches[2][0]) == 2 and epoch_order(10, 3, 2).tolist() != epoch_order(10, 3, 3).tolist()


def test_fit_reads_the_same_batches_in_order_and_on_tensorflow_without_the_autotuner():
    """What fit reads: the sequence's batches, all of them, in order; on TensorFlow through a pipeline whose
    autotuning is off (its thread held fit's return after the last epoch 15-48 s)."""
    import keras

    from digitlib.train.training import _epoch_batches, _fit_input

    x = np.random.default_rng(0).random((10, 28, 28, 1), dtype=np.float32)
    y = np.arange(10) % 10
    batches = _epoch_batches(x, y, batch_size=4, seed=3, first_epoch=1, epochs=3, flagged_ones=0.5)
    read = _fit_input(batches)
    if keras.backend.backend() != "tensorflow":
        assert read is batches
        return
    assert read.options().autotune.enabled is False
    read = [(np.asarray(images), np.asarray(labels)) for images, labels in read]
    assert len(read) == len(batches) == 6
    for index, (images, labels) in enumerate(read):
        assert np.array_equal(images, batches[index][0]) and np.array_equal(labels, batches[index][1])


def test_flagged_ones_come_from_seed_epoch_and_batch_alone_and_only_for_fast():
    from digitlib import build_model
    from digitlib.models import flagged_ones
    from digitlib.train.training import _epoch_batches

    x = np.zeros((64, 28, 28, 1), np.float32)
    x[:, 4:24, 13:15, 0] = 1.0  # 64 sticks
    y = np.ones(64, int)
    batches = _epoch_batches(x, y, batch_size=16, seed=3, first_epoch=0, epochs=2, flagged_ones=0.5)
    again = _epoch_batches(x, y, batch_size=16, seed=3, first_epoch=1, epochs=2, flagged_ones=0.5)  # resumed
    assert np.array_equal(batches[5][0], again[1][0])  # epoch 1's second batch, in either fit
    assert not np.array_equal(batches[5][0], batches[1][0])  # another epoch, other flags
    plain = _epoch_batches(x, y, batch_size=16, seed=3, first_epoch=0, epochs=2)
    assert np.array_equal(plain[5][0], x[:16])
    assert (flagged_ones(build_model("fast")), flagged_ones(build_model("fast-plain")),
            flagged_ones(build_model("seed"))) == (0.35, 0.0, 0.0)


@pytest.mark.e2e  # trains three epochs
def test_a_callback_that_stops_training_stops_the_one_fit_after_its_epoch_saved(small_splits, tmp_path):
    import keras

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    model = build_model("seed")
    result = fit_model(model, small_splits, epochs=4, batch_size=64, learning_rate=1e-3, seed=0,
                       checkpoint_dir=tmp_path, callbacks=[StopAfterTwo()], stream=io.StringIO())
    assert result.epochs == 2 and len(result.history["val_accuracy"]) == 2
    assert json.loads((tmp_path / CHECKPOINT_STATE).read_text())["epochs_done"] == 2


def test_one_cycle_warms_up_decays_and_when_shorter_than_the_training_ends_in_a_tail():
    import keras

    from digitlib.schedules import CycleThenTail

    whole = training.learning_rate_schedule(0.03, "one-cycle", 100)
    assert isinstance(whole, keras.optimizers.schedules.CosineDecay)
    rates = [float(whole(step)) for step in (0, 25, 100)]
    np.testing.assert_allclose(rates, [0.003, 0.03, 0.0003], rtol=1e-5)  # a tenth, the peak after a quarter, 1%
    short = training.learning_rate_schedule(0.03, "one-cycle", 100, cycle_steps=40)
    alone = training.learning_rate_schedule(0.03, "one-cycle", 40)
    assert isinstance(short, CycleThenTail)
    np.testing.assert_allclose([float(short(step)) for step in range(40)], [float(alone(step)) for step in range(40)],
                               rtol=1e-6)
    np.testing.assert_allclose([float(short(step)) for step in (40, 99)], [0.03 * training.TAIL_SHARE] * 2, rtol=1e-6)
    assert type(training.learning_rate_schedule(0.03, "one-cycle", 100, cycle_steps=100)) is type(whole)  # no tail
    assert training.learning_rate_schedule(0.01, "constant", 100) == 0.01


@pytest.mark.parametrize(("schedule", "cycle_steps", "message"), [
    ("one-cycle", 0, "the cycle's 0 steps must be between 1 and the training's 100"),
    ("one-cycle", 101, "the cycle's 101 steps must be between 1 and the training's 100"),
    ("constant", 40, "a cycle's length applies to the one-cycle schedule only"),
    ("cyclic", None, "unknown schedule 'cyclic'; choose constant or one-cycle"),
])
def test_a_cycle_that_does_not_fit_the_training_is_refused(schedule, cycle_steps, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        training.learning_rate_schedule(0.01, schedule, 100, cycle_steps=cycle_steps)


@pytest.mark.jax
def test_fit_model_ends_the_cycle_after_cycle_epochs_and_trains_the_rest_at_a_tenth_of_the_peak(small_splits):
    import keras

    model = build_model("seed")
    result = fit_model(model, small_splits, epochs=2, batch_size=64, learning_rate=0.01, schedule="one-cycle",
                       cycle_epochs=1, stream=io.StringIO())
    rate = keras.optimizers.serialize(model.optimizer)["config"]["learning_rate"]
    per_epoch = -(-len(small_splits.x_train) // 64)  # 1,080 images: 17 batches
    assert rate["class_name"] == "CycleThenTail" and rate["config"]["cycle_steps"] == per_epoch == 17
    assert rate["config"]["tail"] == pytest.approx(0.01 * training.TAIL_SHARE) and result.epochs == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)  # after 34 steps: in the tail


@pytest.mark.parametrize("cycle_epochs", [0, 3])
def test_fit_model_refuses_a_cycle_longer_than_its_epochs_before_training(small_splits, cycle_epochs):
    model = build_model("seed")
    message = f"cycle_epochs must be between 1 and epochs (2), not {cycle_epochs}"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_model(model, small_splits, epochs=2, batch_size=64, learning_rate=0.01, schedule="one-cycle",
                  cycle_epochs=cycle_epochs)
    assert not model.compiled
