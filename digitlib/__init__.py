"""digitlib: the tested logic behind the digit-recognizer notebooks.

Loading and verifying MNIST, preparing it, the model registry, reproducible
training, evaluation, the report's figures, and the runner that executes the
notebooks with papermill and renders them to HTML.
"""

from .data import DataError, MNIST, load_mnist
from .evaluation import Evaluation, evaluate_model, evaluate_predictions, per_class_metrics
from .figures import (
    confident_mistakes_figure,
    confusion_matrix_figure,
    learning_curves_figure,
    sample_predictions_figure,
)
from .models import build_model, describe_model, layers_table, model_names
from .params import PARAMETERS, ParameterError, validate_parameters
from .prepare import Splits, prepare_images, prepare_splits, split_validation
from .provenance import describe_environment
from .results import run_metrics, save_results
from .tables import dataset_table, parameters_table, provenance_table, splits_table
from .training import TrainingResult, fit_model, set_reproducible

__version__ = "0.1.0"

__all__ = [
    "DataError", "MNIST", "load_mnist",
    "Evaluation", "evaluate_model", "evaluate_predictions", "per_class_metrics",
    "confident_mistakes_figure", "confusion_matrix_figure", "learning_curves_figure", "sample_predictions_figure",
    "build_model", "describe_model", "layers_table", "model_names",
    "PARAMETERS", "ParameterError", "validate_parameters",
    "Splits", "prepare_images", "prepare_splits", "split_validation",
    "describe_environment", "run_metrics", "save_results",
    "dataset_table", "parameters_table", "provenance_table", "splits_table",
    "TrainingResult", "fit_model", "set_reproducible",
]
