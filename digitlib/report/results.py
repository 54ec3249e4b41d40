"""A run's results on disk: metrics.json (what it scored and how to reproduce it), model.keras and the
per-image test predictions (test_predictions.npz)."""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_atomic, write_json
from ..layout import METRICS_FILE, PREDICTIONS_FILE
from ..modelfile import save_model
from ..models import model_spec
from ..rundir import InvalidRun, read_run_file
from ..train.evaluation import DIGITS, Evaluation, evaluate_predictions, per_class_metrics

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from ..train.data import MNIST
    from ..train.prepare import Splits
    from ..train.training import Reproducibility, TrainingResult
    from .calibration import Calibration

SCHEMA_VERSION = 1


def run_metrics(
    *,
    parameters: dict[str, Any],
    data: MNIST,
    splits: Splits,
    model: keras.Model,
    training: TrainingResult,
    evaluation: Evaluation,
    reproducibility: Reproducibility,
    environment: dict[str, Any],
    member_evaluations: Sequence[Evaluation] = (),
    calibration: Calibration | None = None,
    robustness: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything a reader needs to judge and reproduce the run, as plain JSON values.

    For an ensemble, `member_evaluations` adds each member's own test accuracy to its entry.
    `calibration` (:func:`digitlib.calibrate_model`) and `robustness` (:func:`digitlib.robustness_curves`)
    add their one-number summaries, which comparisons of runs show side by side.
    """
    from .robustness import robustness_summary

    per_class = per_class_metrics(evaluation)
    members = [dict(info) for info in training.members]
    for info, scored in zip(members, member_evaluations):
        info["test_accuracy"] = scored.accuracy
    return {
        "schema_version": SCHEMA_VERSION,
        "model": parameters["model"],
        "model_version": model_spec(parameters["model"]).version,
        "parameters": parameters,
        "test": {
            "accuracy": evaluation.accuracy,
            "loss": evaluation.loss,
            "images": int(len(evaluation.labels)),
            "mistakes": int(len(evaluation.mistakes)),
        },
        "per_class": {
            str(digit): {key: (int(value) if key == "support" else float(value)) for key, value in row.items()}
            for digit, row in per_class.iterrows()
        },
        "training": {
            "epochs": training.epochs,
            "train_seconds": training.train_seconds,
            "epoch_seconds": training.epoch_seconds,
            "history": training.history,
            "train_images": int(len(splits.x_train)),
            "validation_images": int(len(splits.x_val)),
            "model_parameters": int(model.count_params()),
            **({"members": members} if members else {}),
        },
        "data": {"source": data.source, "sha256": dict(data.sha256)},
        "reproducibility": {
            "seed": reproducibility.seed,
            "backend": reproducibility.backend,
            "op_determinism": reproducibility.op_determinism,
        },
        "environment": environment,
        **({"calibration": calibration.summary()} if calibration is not None else {}),
        **({"robustness": robustness_summary(robustness)} if robustness is not None else {}),
    }


def save_test_predictions(output_dir: str | os.PathLike, evaluation: Evaluation) -> Path:
    """Write OUTPUT_DIR/test_predictions.npz atomically: each test image's probabilities, label and index.

    Comparisons and later analyses read these instead of predicting again
    (:func:`read_test_predictions`). A run tests on the first N test images, so the
    indices are 0..N-1; they are stored so that a reader never has to assume it.
    """
    buffer = io.BytesIO()
    np.savez_compressed(buffer, indices=np.arange(len(evaluation.labels), dtype=np.int64),
                        labels=evaluation.labels.astype(np.int64),
                        probabilities=evaluation.probabilities.astype(np.float32))
    return write_atomic(Path(output_dir) / PREDICTIONS_FILE, buffer.getvalue())


def save_results(output_dir: str | os.PathLike, model: keras.Model, metrics: dict[str, Any],
                 evaluation: Evaluation | None = None) -> Path:
    """Write model.keras, the test predictions (when `evaluation` is given) and metrics.json, each
    atomically; metrics last, as the mark of a finished run. metrics.json is JSON any reader accepts
    (:func:`digitlib.atomic.write_json`): a value that is not finite is null, a path that is not UTF-8 escaped."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_model(output_dir, model)
    if evaluation is not None:
        save_test_predictions(output_dir, evaluation)
    write_json(output_dir / METRICS_FILE, metrics)  # NaN (a diverged loss) as null: JSON has no NaN
    return output_dir


# On disk and once inflated: 10,000 test images' probabilities, labels and indices take 0.56 MB as digitlib
# writes them, 0.96 MB with float64 probabilities. Four times that is refused, before anything is inflated.
MAX_PREDICTIONS_BYTES = 4_000_000
PREDICTION_ARRAYS = ("indices", "labels", "probabilities")


def _npy_array(data: bytes, name: str):
    """The array of an .npy file's bytes, once its header's shape and type are found to fit the bytes it holds
    (numpy would allocate whatever the header declares). Raises :class:`InvalidRun`."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in header:
        raise InvalidRun(f"{PREDICTIONS_FILE}: {name} is a version {version} .npy, which digitlib does not write")
    shape, _, dtype = header[version](stream)
    if dtype.hasobject:
        raise InvalidRun(f"{PREDICTIONS_FILE}: {name} holds Python objects, which digitlib never unpickles")
    declared, held = math.prod(shape) * dtype.itemsize, len(data) - stream.tell()
    if declared != held:
        raise InvalidRun(f"{PREDICTIONS_FILE}: {name} declares {shape} {dtype} ({declared:,} bytes) but holds "
                         f"{held:,}")
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def _npz_arrays(content: bytes) -> dict[str, Any]:
    """The arrays of test_predictions.npz's bytes by name, inflating no more than its entries declare (zipfile stops
    there, and deflate inflates in bounded steps), and only when they declare no more than MAX_PREDICTIONS_BYTES.
    Raises :class:`InvalidRun`, or what zipfile and numpy raise for a damaged file."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        members = archive.infolist()
        names = sorted(member.filename.removesuffix(".npy") for member in members)
        if names != list(PREDICTION_ARRAYS) or len(members) != len(PREDICTION_ARRAYS):
            raise InvalidRun(f"{PREDICTIONS_FILE} holds {names[:5]}, not indices, labels and probabilities")
        inflated = sum(member.file_size for member in members)
        if inflated > MAX_PREDICTIONS_BYTES:
            raise InvalidRun(f"{PREDICTIONS_FILE}: {inflated:,} bytes once inflated, more than the "
                             f"{MAX_PREDICTIONS_BYTES:,} allowed for 10,000 test images; refusing a possible zip bomb")
        arrays = {}
        for member in members:
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):  # others inflate unbounded
                method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}.get(member.compress_type,
                                                                                   f"method {member.compress_type}")
                raise InvalidRun(f"{PREDICTIONS_FILE}: {member.filename} is compressed with {method}; digitlib "
                                 "writes deflate")
            with archive.open(member) as stream:
                data = stream.read(member.file_size + 1)
            arrays[member.filename.removesuffix(".npy")] = _npy_array(data, member.filename)
    return arrays


def read_test_predictions(run_dir: str | os.PathLike):
    """A finished run's per-image test predictions: ``(indices, Evaluation)``, or None for a run made
    before runs kept them. Raises :class:`InvalidRun` for a file that is not what digitlib writes.

    The file is data: a regular file of at most MAX_PREDICTIONS_BYTES, whose arrays are inflated only when
    they declare no more than that (:func:`_npz_arrays`), read without unpickling anything, and every array is
    checked (names, shapes, types, probabilities in [0, 1] summing to 1, labels 0-9, distinct indices into
    MNIST's test set). Whether the labels are MNIST's is the caller's to check (:mod:`digitlib.report.comparison`).
    """
    path = Path(run_dir) / PREDICTIONS_FILE
    if not os.path.lexists(path):
        return None
    content = read_run_file(path, MAX_PREDICTIONS_BYTES)
    try:
        indices, labels, probabilities = map(_npz_arrays(content).get, PREDICTION_ARRAYS)
    except InvalidRun:
        raise
    except Exception as error:  # a damaged zip or .npy, a truncated file
        raise InvalidRun(f"{PREDICTIONS_FILE} is unreadable ({type(error).__name__})") from None
    count = len(labels)
    problems = [
        (indices.dtype.kind not in "iu" or indices.shape != (count,), "indices are not one integer per image"),
        (labels.dtype.kind not in "iu" or labels.ndim != 1, "labels are not integers"),
        (probabilities.dtype.kind != "f" or probabilities.shape != (count, len(DIGITS)),
         "probabilities are not 10 numbers per image"),
    ]
    problems += [] if any(bad for bad, _ in problems) else [
        (count == 0, "it holds no image"),
        (not np.isin(labels, DIGITS).all(), "a label is not a digit"),
        (indices.min() < 0 or indices.max() >= 10_000 or len(np.unique(indices)) != count,
         "indices are not distinct positions in the 10,000 test images"),
        (not np.isfinite(probabilities).all() or probabilities.min() < 0 or probabilities.max() > 1
         or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3), "probabilities do not sum to 1"),
    ]
    for bad, problem in problems:
        if bad:
            raise InvalidRun(f"{PREDICTIONS_FILE}: {problem}")
    return indices.astype(np.int64), evaluate_predictions(probabilities, labels)
