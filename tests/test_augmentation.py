"""Writer variation: the training-only augmentation of `fast`."""

import subprocess
import sys

import numpy as np
import pytest

from digitlib import build_model
from digitlib.models import model_spec
from digitlib.rundir import run_identity


def _dot(row: int, column: int) -> np.ndarray:
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, row, column, 0] = 1.0
    return image


def _moved(image, *, angle=0.0, shear=0.0, size=1.0, dx=0.0, dy=0.0) -> np.ndarray:
    from keras import ops

    from digitlib.augmentation import _inverse_map

    def one(value):
        return ops.convert_to_tensor(np.array([value], np.float32))

    transform = _inverse_map(one(angle), one(shear), one(size), one(dx), one(dy), 28, 28)
    moved = ops.image.affine_transform(ops.convert_to_tensor(image), transform, interpolation="bilinear",
                                       fill_mode="constant", data_format="channels_last")
    return np.asarray(moved)[0, :, :, 0]


def _where(image: np.ndarray) -> tuple[int, int]:
    return tuple(int(i) for i in np.unravel_index(np.argmax(image), image.shape))


def test_the_map_shifts_right_and_down_by_whole_pixels():
    assert _where(_moved(_dot(10, 10), dx=3.0, dy=2.0)) == (12, 13)


def test_the_map_turns_counterclockwise_about_the_centre():
    # a quarter turn on screen (rows grow downwards) takes the pixel right of the centre to below it
    # (x, y) = (13.5 + 6.5, 13.5 + 0.5) -> rotation by +90 degrees maps (dx, dy) = (6.5, 0.5) to (-0.5, 6.5)
    assert _where(_moved(_dot(14, 20), angle=np.pi / 2)) == (20, 13)


def test_the_map_slants_rows_above_the_centre_to_the_right():
    top, bottom = _where(_moved(_dot(3, 14), shear=0.2)), _where(_moved(_dot(24, 14), shear=0.2))
    assert top[1] < 14 < bottom[1]  # x += shear * (y - centre): rows above the centre lean left on screen
    assert top[0] == 3 and bottom[0] == 24


def test_the_map_scales_about_the_centre():
    far = _where(_moved(_dot(13, 23), size=1.2))
    assert far[0] in (13, 14) and far[1] == 25  # 9.5 px right of the centre becomes 11.4 px


def test_a_thicker_pen_adds_ink_and_a_thinner_one_removes_it(mnist):
    from keras import ops

    from digitlib.augmentation import _change_stroke

    digits = mnist.x_train[:16].astype(np.float32)[..., None] / 255.0
    ink = digits.sum()

    def pen(amount):
        amounts = ops.convert_to_tensor(np.full(16, amount, np.float32))
        return np.asarray(_change_stroke(ops.convert_to_tensor(digits), amounts))

    thicker, thinner = pen(0.5), pen(-0.5)
    assert thicker.sum() > 1.08 * ink and thinner.sum() < 0.92 * ink
    assert thicker.max() <= 1.0 + 1e-6 and thinner.min() >= 0.0


def test_training_varies_each_image_and_inference_leaves_it_alone(mnist):
    from digitlib.augmentation import WriterVariation

    digits = mnist.x_train[:64].astype(np.float32)[..., None] / 255.0
    layer = WriterVariation(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(digits, training=False)), digits)
    first, second = np.asarray(layer(digits, training=True)), np.asarray(layer(digits, training=True))
    assert first.shape == digits.shape and 0.0 <= first.min() and first.max() <= 1.0 + 1e-6
    assert not np.allclose(first, second)  # every epoch draws anew
    changed = np.abs(first - digits).reshape(64, -1).max(axis=1)
    assert (changed > 0.1).all()
    # light: a thinner or thicker pen changes the ink, not the digit, and the digit stays near where it was
    kept = first.reshape(64, -1).sum(axis=1) / digits.reshape(64, -1).sum(axis=1)
    assert 0.3 < kept.min() and kept.max() < 2.5
    rows = np.arange(28, dtype=np.float32)

    def centre(images):  # centre of mass, (row, column), per image
        mass = images[..., 0]
        return np.stack([(mass.sum(axis=2) * rows).sum(axis=1), (mass.sum(axis=1) * rows).sum(axis=1)], axis=1) \
            / mass.sum(axis=(1, 2))[:, None]

    assert np.abs(centre(first) - centre(digits)).max() < 4.0
    np.testing.assert_array_equal(np.asarray(WriterVariation(seed=3)(digits, training=True)), first)


def _stick(column: int = 14, top: int = 4, foot: int = 23) -> np.ndarray:
    """A prepared 1: a vertical stroke two pixels wide."""
    image = np.zeros((28, 28, 1), np.float32)
    image[top:foot + 1, column:column + 2, 0] = 1.0
    return image


def test_a_flag_goes_down_to_the_left_of_a_ones_top_and_other_digits_stay_as_they_are():
    from digitlib.augmentation import flag_ones

    images = np.stack([_stick(), _stick(), _stick(top=10, foot=15)])  # the last 1 is too short to flag
    labels = np.array([1, 7, 1])
    flagged = flag_ones(images, labels, np.random.default_rng(0), share=1.0)
    added = flagged[0, :, :, 0] - images[0, :, :, 0]
    rows, columns = np.nonzero(added > 0.5)
    assert len(rows) and columns.min() < 14 and rows.min() >= 4  # new ink left of the stem, none above its top
    assert rows[columns == columns.min()].min() > 4  # the flag's far end hangs below the top
    assert np.array_equal(flagged[1:], images[1:])  # a 7 and a short 1: untouched
    assert images[0, :, :, 0].sum() == 2 * 20  # the caller's images are not drawn on
    assert np.array_equal(flag_ones(images, labels, np.random.default_rng(0), share=1.0), flagged)  # same state, same


def test_a_share_of_the_ones_is_flagged_and_none_with_a_share_of_zero():
    from digitlib.augmentation import flag_ones

    images, labels = np.stack([_stick()] * 400), np.ones(400, int)
    flagged = flag_ones(images, labels, np.random.default_rng(1), share=0.35)
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(flagged, images)])
    assert 0.28 < changed < 0.42
    assert flag_ones(images, labels, np.random.default_rng(1), share=0.0) is images


def test_fast_learns_from_writer_variation_and_fast_plain_is_the_old_recipe():
    fast, plain = build_model("fast"), build_model("fast-plain")
    assert type(fast.layers[0]).__name__ == "WriterVariation"
    assert [type(layer).__name__ for layer in fast.layers[1:]] == [type(layer).__name__ for layer in plain.layers]
    assert fast.count_params() == plain.count_params() == 109_402
    assert (model_spec("fast").version, model_spec("fast-plain").version) == (4, 2)


def test_runs_of_the_old_fast_are_not_the_new_one():
    parameters = {"model": "fast", "seed": 42}
    assert run_identity(parameters, model_version=1) != run_identity(parameters)


@pytest.mark.e2e
@pytest.mark.full  # make test: fast models trained by reports are read in new processes (test_backends, the smoke)
def test_a_saved_fast_model_loads_in_a_fresh_process_in_safe_mode(tmp_path):
    model = build_model("fast")
    model.save(tmp_path / "model.keras")
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    expected = model.predict(images, verbose=0)
    script = ("import sys, numpy as np, digitlib.modelfile as p\n"
              "model = p.load_trained_model(sys.argv[1])\n"
              "np.save(sys.argv[2], model.predict(np.load(sys.argv[3]), verbose=0))\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.keras"), str(tmp_path / "out.npy"),
                    str(tmp_path / "images.npy")], check=True, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)
