"""digitlib: the tested logic behind the digit-recognizer notebooks.

Its folders say which process runs the code:

- ``digitlib/`` itself, the core both processes share: parameters (params), the model registry (models,
  augmentation), backends, run directories (rundir, layout, atomic, untrusted) and YAML (yamlfile). Light:
  importing it imports no scientific package.
- ``train/``: loading MNIST, preparing it, training and evaluating networks (the notebook's kernel).
- ``report/``: what a report shows: figures, tables, diagnosis, calibration, robustness, comparisons.
- ``predict/``: reading your own images with a trained model.
- ``run/``: the command line's process: ``digitlib report``/``sweep``/``predict``, papermill, the index
  page, Dask, MLflow. It imports the science only inside the commands that need it.
- ``synthetic/``: handwriting-like and photo-like digits for the tests, the samples and the benchmarks.

Wings import downwards only (run > report > predict > train > core, synthetic beside run):
``make lint`` checks it with import-linter (pyproject.toml's ``[tool.importlinter]``).

The notebooks use the names below as ``digitlib.NAME``; each is imported from its module on first use
(PEP 562), so ``digitlib --help`` does not pay for pandas, scikit-learn, matplotlib or Keras.
"""

import os as _os
from importlib import import_module as _import_module

from .backends import gpu_defaults as _gpu_defaults
from .backends import keep_freed_memory as _keep_freed_memory

# A notebook opened by hand imports digitlib before Keras: on a GPU, it takes memory as it needs it and
# runs deterministic kernels too, as a run started by `digitlib report` does; and on glibc, TensorFlow's training
# steps reuse freed memory instead of faulting it in again.
_os.environ.update(_gpu_defaults())
_keep_freed_memory()

__version__ = "0.1.0"

# module -> the public names it provides, by wing
_EXPORTS = {
    "params": ["PARAMETERS", "ParameterError", "rebuild_command", "recipe", "validate_comparison_parameters",
               "validate_drawing_parameters", "validate_parameters", "validate_prediction_parameters"],
    "models": ["build_model", "describe_model", "layers_table", "model_names"],
    "modelfile": ["ModelError", "load_trained_model", "model_file"],
    "train.data": ["DataError", "MNIST", "load_mnist"],
    "train.prepare": ["Splits", "prepare_images", "prepare_splits", "split_validation"],
    "train.training": ["TrainingResult", "fit_model", "set_reproducible"],
    "train.on_device": ["DeviceFit", "fit_on_device"],
    "train.ensemble": ["train_network"],
    "train.evaluation": ["Evaluation", "evaluate_members", "evaluate_model", "evaluate_predictions",
                         "per_class_metrics", "predict_probabilities"],
    "train.provenance": ["describe_environment", "training_on"],
    "report.calibration": ["Calibration", "calibrate", "calibrate_model", "reliability_figure"],
    "report.diagnosis": ["diagnose", "diagnose_metrics"],
    "report.figures": ["confident_mistakes_figure", "confusion_matrix_figure", "learning_curves_figure",
                       "numbers_figure", "predictions_figure", "sample_predictions_figure"],
    "report.drawing": ["draw_a_digit"],
    "report.occlusion": ["occlusion_figure", "occlusion_maps"],
    "report.reading": ["Reading", "read_picture", "reading_figure"],
    "report.representation": ["feature_map_figure", "filters_figure", "penultimate_features"],
    "report.results": ["run_metrics", "save_results", "save_test_predictions"],
    "report.robustness": ["robustness_curves", "robustness_figure", "robustness_summary", "shifted_examples_figure"],
    "report.significance": ["accuracy_interval"],
    "report.summary": ["Headline", "headline"],
    "report.tables": ["dataset_table", "members_table", "parameters_table", "per_class_table", "predictions_table",
                      "provenance_table", "splits_table"],
    "predict.handwriting": ["ImageError", "label_in_name", "load_digit", "mnist_style"],
    "predict.abstention": ["Detector", "describe_abstention", "fit_abstention", "read_detector"],
    "synthetic.nondigits": ["nondigit_set"],
    "predict.predictions": ["LabelledAccuracy", "Prediction", "SHOWN_PICTURES", "SHOWN_ROWS", "default_model",
                            "labelled_accuracy", "predict_images", "save_predictions", "shown_predictions"],
    "predict.number": ["NumberReading", "read_numbers"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    """Import a public name's module on first use."""
    if name in _MODULE_OF:
        value = getattr(_import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value  # later uses are plain attribute look-ups
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
