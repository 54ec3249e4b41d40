"""digitlib: the tested logic behind the digit-recognizer notebooks.

Loading and verifying MNIST, preparing it, the model registry, reproducible
training, evaluation, the report's figures, and the runner that executes the
notebooks with papermill and renders them to HTML.

The package imports its submodules only when a name is first used (PEP 562), so
``digitlib --help`` does not pay for pandas, scikit-learn, matplotlib or Keras;
``import digitlib; digitlib.load_mnist(...)`` works as before.
"""

import os as _os
from importlib import import_module as _import_module
from pathlib import Path as _Path

from .backends import gpu_defaults as _gpu_defaults

# A notebook opened by hand imports digitlib before Keras: on a GPU, it takes memory as it needs it and
# runs deterministic kernels too, as a run started by `digitlib report` does.
_os.environ.update(_gpu_defaults())

__version__ = "0.1.0"

# submodule -> the public names it provides
_EXPORTS = {
    "calibration": ["Calibration", "calibrate", "calibrate_model", "reliability_figure"],
    "data": ["DataError", "MNIST", "load_mnist"],
    "diagnosis": ["diagnose", "diagnose_metrics"],
    "ensemble": ["train_network"],
    "evaluation": ["Evaluation", "evaluate_members", "evaluate_model", "evaluate_predictions", "per_class_metrics",
                   "predict_probabilities"],
    "figures": ["confident_mistakes_figure", "confusion_matrix_figure", "learning_curves_figure",
                "predictions_figure", "sample_predictions_figure"],
    "handwriting": ["ImageError", "label_in_name", "load_digit", "mnist_style"],
    "models": ["build_model", "describe_model", "layers_table", "model_names"],
    "occlusion": ["occlusion_figure", "occlusion_maps"],
    "params": ["PARAMETERS", "ParameterError", "recipe", "validate_comparison_parameters", "validate_parameters",
               "validate_prediction_parameters"],
    "predict": ["LabelledAccuracy", "ModelError", "Prediction", "default_model", "labelled_accuracy",
                "load_trained_model", "predict_images", "save_predictions"],
    "prepare": ["Splits", "prepare_images", "prepare_splits", "split_validation"],
    "provenance": ["describe_environment", "training_on"],
    "representation": ["feature_map_figure", "filters_figure", "penultimate_features"],
    "results": ["run_metrics", "save_results", "save_test_predictions"],
    "robustness": ["robustness_curves", "robustness_figure", "robustness_summary", "shifted_examples_figure"],
    "significance": ["accuracy_interval"],
    "summary": ["Headline", "headline"],
    "tables": ["dataset_table", "members_table", "parameters_table", "per_class_table", "predictions_table",
               "provenance_table", "splits_table"],
    "training": ["TrainingResult", "fit_model", "set_reproducible"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    """Import a public name's submodule on first use; `digitlib.data` and the like import that submodule."""
    if name in _MODULE_OF:
        value = getattr(_import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value  # later uses are plain attribute look-ups
        return value
    if not name.startswith("_") and (_Path(__file__).parent / f"{name}.py").is_file():
        return _import_module(f".{name}", __name__)  # as when this file imported every submodule eagerly
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
