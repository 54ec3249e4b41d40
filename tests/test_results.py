"""A run's per-image test predictions: written atomically, read back as checked data."""

import io
import zipfile

import numpy as np
import pytest

from digitlib.layout import PREDICTIONS_FILE
from digitlib.report.results import read_test_predictions, save_test_predictions
from digitlib.rundir import InvalidRun
from digitlib.train.evaluation import evaluate_predictions


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
    with pytest.raises(InvalidRun, match="labels.npy holds Python objects, which digitlib never unpickles"):
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


def write_bomb(path, inflated_mib, *, declared=None, header_shape=None):
    """A test_predictions.npz whose probabilities.npy inflates to `inflated_mib` MiB of zeros (a few hundred kB on
    disk); `declared`: the uncompressed size its zip entry claims instead; `header_shape`: what its .npy header
    claims instead of what the data holds."""
    rows = inflated_mib * 2**20 // 40
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("indices", "labels"):
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.arange(3))
        with archive.open("probabilities.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": header_shape or (rows, 10)})
            for _ in range(inflated_mib):
                member.write(bytes(2**20))
    if declared is not None:  # the central directory's uncompressed size, which zipfile believes
        content = bytearray(path.read_bytes())
        entry = content.rindex(b"PK\x01\x02")  # the last entry of the central directory: probabilities.npy
        assert content[entry + 46:entry + 63] == b"probabilities.npy"
        content[entry + 24:entry + 28] = declared.to_bytes(4, "little")
        path.write_bytes(bytes(content))


@pytest.mark.parametrize("bomb, message", [
    ({"inflated_mib": 100}, r"test_predictions.npz: 104,8\d\d,\d{3} bytes once inflated, more than the 4,000,000 "
                            "allowed for 10,000 test images; refusing a possible zip bomb"),
    ({"inflated_mib": 100, "declared": 3_000_000}, "test_predictions.npz is unreadable"),
    ({"inflated_mib": 0, "header_shape": (10**9, 10)},
     r"test_predictions.npz: probabilities.npy declares \(1000000000, 10\) float32 \(40,000,000,000 bytes\) but "
     "holds 0"),
])
def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, bomb, message):
    """The file is small, its arrays are not: the declared sizes are checked, and no more than they declare is
    ever inflated or allocated (a 2.3 MB file once took 3 GB and 19 s before it was refused)."""
    import tracemalloc

    write_bomb(tmp_path / PREDICTIONS_FILE, **bomb)
    assert (tmp_path / PREDICTIONS_FILE).stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRun, match=message):
            read_test_predictions(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak:,} bytes allocated"


def test_members_compressed_other_than_numpy_does_are_refused(tmp_path):
    """bzip2 and LZMA members inflate without the bound zipfile gives deflate; np.savez writes neither."""
    buffer = io.BytesIO()
    np.savez(buffer, **GOOD)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, \
            zipfile.ZipFile(tmp_path / PREDICTIONS_FILE, "w", zipfile.ZIP_BZIP2) as archive:
        for member in source.infolist():
            archive.writestr(member.filename, source.read(member))
    with pytest.raises(InvalidRun, match=r"indices.npy is compressed with bzip2; digitlib writes deflate"):
        read_test_predictions(tmp_path)
