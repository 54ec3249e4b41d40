import numpy as np
import pytest

from digitlib import prepare_images, prepare_splits, split_validation
from digitlib.train.prepare import take


def test_prepare_images_reshapes_and_scales():
    images = np.array([[[0] * 28] * 28, [[255] * 28] * 28], dtype=np.uint8)
    prepared = prepare_images(images)
    assert prepared.shape == (2, 28, 28, 1) and prepared.dtype == np.float32
    assert prepared[0].max() == 0.0 and prepared[1].min() == 1.0


def test_prepare_images_gives_each_grey_level_over_255_in_float32():
    levels = np.arange(256, dtype=np.uint8)
    images = np.resize(levels, (3, 28, 28)).astype(np.uint8)
    assert np.array_equal(prepare_images(images)[..., 0], images.astype(np.float32) / np.float32(255))


@pytest.mark.parametrize("shape", [(3, 28), (3, 32, 32), (3, 28, 28, 3)])
def test_prepare_images_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 28, 28\)"):
        prepare_images(np.zeros(shape, dtype=np.uint8))


def test_prepare_images_rejects_already_scaled_floats():
    with pytest.raises(ValueError, match="expected uint8 pixel values 0-255, got dtype float32"):
        prepare_images(np.zeros((1, 28, 28), dtype=np.float32))


def test_take_limits_and_checks():
    x, y = np.arange(10), np.arange(10)
    assert take(x, y, 3)[0].tolist() == [0, 1, 2]
    assert len(take(x, y, None)[0]) == 10
    with pytest.raises(ValueError, match="at least 1"):
        take(x, y, 0)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        take(x, y[:9], 3)


def test_validation_split_is_deterministic_stratified_and_disjoint():
    labels = np.repeat(np.arange(10), 50)
    images = np.arange(500)
    first = split_validation(images, labels, 0.2, seed=7)
    again = split_validation(images, labels, 0.2, seed=7)
    other = split_validation(images, labels, 0.2, seed=8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])
    x_train, y_train, x_val, y_val = first
    assert len(x_val) == 100 and set(x_train).isdisjoint(x_val)
    assert np.bincount(y_val).tolist() == [10] * 10


def test_zero_validation_keeps_everything_for_training():
    x_train, y_train, x_val, y_val = split_validation(np.arange(10), np.arange(10), 0.0, seed=0)
    assert len(x_train) == 10 and len(x_val) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_validation_fraction_range(fraction):
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        split_validation(np.arange(10), np.arange(10), fraction, seed=0)


def test_prepare_splits_on_real_data(mnist):
    splits = prepare_splits(mnist, validation_split=0.25, seed=0, train_limit=400, test_limit=100)
    assert splits.x_train.shape == (300, 28, 28, 1) and splits.x_val.shape == (100, 28, 28, 1)
    assert splits.x_test.shape == (100, 28, 28, 1)
    for array in (splits.x_train, splits.x_val, splits.x_test):
        assert array.dtype == np.float32 and 0.0 <= array.min() and array.max() <= 1.0
    np.testing.assert_array_equal(splits.y_test, mnist.y_test[:100])
