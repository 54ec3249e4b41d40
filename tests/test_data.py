import gzip

import numpy as np
import pytest

from conftest import write_idx
from digitlib import DataError, load_mnist
from digitlib.layout import IDX_FILES
from digitlib.train import data as data_module
from digitlib.train.data import KERAS_NPZ, read_idx, read_idx_pair, read_npz, sha256_of


def test_read_idx_round_trips_images_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 9], dtype=np.uint8)
    x, y = read_idx_pair(write_idx(tmp_path / "i.gz", images), write_idx(tmp_path / "l.gz", labels))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_wrong_magic_is_named(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(3), magic=0x00000803)
    with pytest.raises(DataError, match=r"labels\.gz: wrong IDX magic number 0x00000803"):
        read_idx(path, 1)


def test_truncated_gzip_says_truncated(tmp_path):
    path = write_idx(tmp_path / "images.gz", np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match=r"images\.gz: not a readable gzip file .*truncated or corrupt"):
        read_idx(path, 3)


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_idx(path, 3)


def test_header_and_payload_disagree(tmp_path):
    path = tmp_path / "images.gz"
    header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10, 28, 28))
    with gzip.open(path, "wb") as handle:
        handle.write(header + bytes(28 * 28 * 3))
    with pytest.raises(DataError, match=r"shape \(10, 28, 28\) .* truncated"):
        read_idx(path, 3)


def test_image_and_label_counts_must_match(tmp_path):
    images = write_idx(tmp_path / "i.gz", np.zeros((3, 28, 28)))
    labels = write_idx(tmp_path / "l.gz", np.zeros(2))
    with pytest.raises(DataError, match="holds 3 images but .* holds 2 labels"):
        read_idx_pair(images, labels)


def _fake_mnist_dir(tmp_path):
    for name in IDX_FILES:
        shape = (2, 28, 28) if "images" in name else (2,)
        write_idx(tmp_path / name, np.zeros(shape))
    return tmp_path


def test_checksum_mismatch_gives_expected_and_actual(tmp_path):
    directory = _fake_mnist_dir(tmp_path)
    first = next(iter(IDX_FILES))
    with pytest.raises(DataError) as caught:
        load_mnist(directory)
    message = str(caught.value)
    assert f"{first}: SHA-256 mismatch" in message
    assert IDX_FILES[first] in message and sha256_of(directory / first) in message


def test_missing_files_are_listed_with_the_remedy(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28)))
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path)
    message = str(caught.value)
    assert "missing train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message
    assert "copy the four canonical MNIST files" in message


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="no such directory; point data_dir or DIGITLIB_DATA_DIR"):
        load_mnist(tmp_path / "nowhere")


def test_no_local_data_and_no_network_names_both_remedies(monkeypatch):
    import keras

    def offline(**kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.delenv("DIGITLIB_DATA_DIR", raising=False)
    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(DataError) as caught:
        load_mnist()
    message = str(caught.value)
    assert "downloading https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz failed" in message
    assert "connect to the internet" in message and "set DIGITLIB_DATA_DIR" in message


def test_download_path_is_verified_and_parsed(monkeypatch, tmp_path, mnist):
    """The Keras download branch reads what get_file returns, after checking its SHA-256."""
    import keras

    fake = tmp_path / KERAS_NPZ
    np.savez(fake, x_train=mnist.x_train, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    calls = []

    def get_file(**kwargs):
        calls.append(kwargs)
        return str(fake)

    monkeypatch.delenv("DIGITLIB_DATA_DIR", raising=False)
    monkeypatch.setattr(keras.utils, "get_file", get_file)
    monkeypatch.setattr(data_module, "KERAS_NPZ_SHA256", sha256_of(fake))
    loaded = load_mnist()
    assert calls[0]["file_hash"] == sha256_of(fake) and calls[0]["fname"] == KERAS_NPZ
    np.testing.assert_array_equal(loaded.y_test, mnist.y_test)
    assert loaded.sha256 == {KERAS_NPZ: sha256_of(fake)}
    monkeypatch.setattr(data_module, "KERAS_NPZ_SHA256", "0" * 64)  # the file is not the one published
    with pytest.raises(DataError, match="SHA-256"):
        load_mnist()


def test_npz_in_a_directory_is_checksummed(tmp_path):
    np.savez(tmp_path / KERAS_NPZ, x_train=np.zeros((1, 28, 28), np.uint8), y_train=np.zeros(1, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    with pytest.raises(DataError, match=r"mnist\.npz: SHA-256 mismatch \(expected 731c5ac6"):
        load_mnist(tmp_path)


def test_npz_without_the_arrays(tmp_path):
    np.savez(tmp_path / KERAS_NPZ, something=np.zeros(1))
    with pytest.raises(DataError, match="not a readable MNIST .npz file"):
        read_npz(tmp_path / KERAS_NPZ)


def test_real_files_load_with_canonical_shapes(mnist, mnist_dir):
    x_train, y_train, x_test, y_test = mnist
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == (
        (60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    assert {a.dtype for a in mnist} == {np.dtype(np.uint8)}
    assert set(np.unique(y_train)) == set(range(10)) and x_train.max() == 255
    assert mnist.sha256 == IDX_FILES and mnist.source == str(mnist_dir)


def test_environment_variable_is_the_fallback(monkeypatch, mnist_dir):
    monkeypatch.setenv("DIGITLIB_DATA_DIR", str(mnist_dir))
    assert load_mnist().source == str(mnist_dir)
    with pytest.raises(DataError, match="no such directory"):
        load_mnist("/definitely/not/here")  # the argument wins over the variable
