"""A run's results on disk: metrics.json (what it scored and how to reproduce it), model.keras and the
per-image test predictions (test_predictions.npz)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_atomic, write_json
from .evaluation import Evaluation, per_class_metrics
from .models import model_spec
from .rundir import METRICS_FILE, MODEL_FILE, PREDICTIONS_FILE

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from .calibration import Calibration
    from .data import MNIST
    from .prepare import Splits
    from .training import Reproducibility, TrainingResult

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


def save_model(output_dir: str | os.PathLike, model: keras.Model) -> Path:
    """Write OUTPUT_DIR/model.keras atomically: a reader never sees half a model."""
    path = Path(output_dir) / MODEL_FILE
    temporary = path.with_name(f".{MODEL_FILE}.{os.getpid()}.keras")  # Keras insists on the suffix
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def save_test_predictions(output_dir: str | os.PathLike, evaluation: Evaluation) -> Path:
    """Write OUTPUT_DIR/test_predictions.npz atomically: each test image's probabilities, label and index.

    Comparisons and later analyses read these instead of predicting again
    (:func:`digitlib.rundir.read_test_predictions`). A run tests on the first N test images, so the
    indices are 0..N-1; they are stored so that a reader never has to assume it.
    """
    import io

    import numpy as np

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
