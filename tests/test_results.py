"""A run's per-image test predictions: written atomically, read back as checked data."""

import io
import zipfile

import numpy as np
import pytest

from digitlib.evaluation import evaluate_predictions
from digitlib.results import save_test_predictions
from digitlib.rundir import PREDICTIONS_FILE, InvalidRun, read_test_predictions


def evaluation(count=50, seed=0):
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.ones(10), size=count)
    return evaluate_predictions(probabilities, rng.integers(0, 10, count))


def test_predictions_round_trip_with_their_indices(tmp_path):
    scored = evaluation()
    save_test_predictions(tmp_path, scored)
    indices, back = read_test_predictions(tmp_path)
    assert np.array_equal(indices, np.arange(50)) and np.array_equal(back.labels, scored.labels)
    assert np.allclose(back.probabilities, scored.probabilities, atol=1e-7)
    assert back.accuracy == scored.accuracy
    assert [p.name for p in tmp_path.iterdir()] == [PREDICTIONS_FILE]  # no temporary left behind


def test_a_run_made_before_predictions_were_kept_has_none(tmp_path):
    assert read_test_predictions(tmp_path) is None


def write(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


GOOD = {"indices": np.arange(3), "labels": np.array([1, 2, 3]), "probabilities": np.full((3, 10), 0.1)}


@pytest.mark.parametrize("change, message", [
    ({"indices": np.array([0, 0, 1])}, "distinct positions"),
    ({"indices": np.array([0, 1, 10_000])}, "distinct positions"),
    ({"labels": np.array([1, 2, 11])}, "not a digit"),
    ({"labels": np.array(["1", "2", "3"])}, "labels are not integers"),
    ({"probabilities": np.full((3, 10), 0.5)}, "do not sum to 1"),
    ({"probabilities": np.full((3, 9), 1 / 9)}, "10 numbers per image"),
    ({"probabilities": np.full((3, 10), np.nan)}, "do not sum to 1"),
    ({"extra": np.zeros(1)}, "not indices, labels and probabilities"),
])
def test_a_tampered_file_is_refused_with_the_reason(tmp_path, change, message):
    write(tmp_path / PREDICTIONS_FILE, **{**GOOD, **change})
    with pytest.raises(InvalidRun, match=message):
        read_test_predictions(tmp_path)


def test_a_pickled_array_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    write(tmp_path / PREDICTIONS_FILE, **{**GOOD, "labels": np.array([Payload()], dtype=object)})
    with pytest.raises(InvalidRun, match="unreadable"):
        read_test_predictions(tmp_path)
    assert not marker.exists()


def test_a_damaged_file_is_refused(tmp_path):
    (tmp_path / PREDICTIONS_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InvalidRun, match="unreadable"):
        read_test_predictions(tmp_path)
    with zipfile.ZipFile(tmp_path / PREDICTIONS_FILE, "w") as archive:
        archive.writestr("labels.npy", b"\x93NUMPY garbage")
    with pytest.raises(InvalidRun):
        read_test_predictions(tmp_path)
