"""digitlib: the tested logic behind the digit-recognizer notebooks.

Loading and verifying MNIST, preparing it, the model registry, reproducible
training, evaluation, the report's figures, and the runner that executes the
notebooks with papermill and renders them to HTML.
"""

from .data import MNIST, DataError, load_mnist
from .ensemble import train_network
from .evaluation import (
    Evaluation,
    evaluate_members,
    evaluate_model,
    evaluate_predictions,
    per_class_metrics,
    predict_probabilities,
)
from .figures import (
    confident_mistakes_figure,
    confusion_matrix_figure,
    learning_curves_figure,
    predictions_figure,
    sample_predictions_figure,
)
from .handwriting import ImageError, load_digit, mnist_style
from .models import build_model, describe_model, layers_table, model_names
from .params import (
    PARAMETERS,
    ParameterError,
    recipe,
    validate_comparison_parameters,
    validate_parameters,
    validate_prediction_parameters,
)
from .predict import ModelError, Prediction, load_trained_model, predict_images, save_predictions
from .prepare import Splits, prepare_images, prepare_splits, split_validation
from .provenance import describe_environment
from .results import run_metrics, save_results
from .tables import (
    dataset_table,
    members_table,
    parameters_table,
    per_class_table,
    predictions_table,
    provenance_table,
    splits_table,
)
from .training import TrainingResult, fit_model, set_reproducible

__version__ = "0.1.0"

__all__ = [
    "DataError", "MNIST", "load_mnist",
    "Evaluation", "evaluate_members", "evaluate_model", "evaluate_predictions", "per_class_metrics",
    "predict_probabilities",
    "confident_mistakes_figure", "confusion_matrix_figure", "learning_curves_figure", "predictions_figure",
    "sample_predictions_figure", "ImageError", "load_digit", "mnist_style",
    "ModelError", "Prediction", "load_trained_model", "predict_images", "save_predictions",
    "validate_prediction_parameters", "validate_comparison_parameters", "predictions_table",
    "build_model", "describe_model", "layers_table", "model_names",
    "PARAMETERS", "ParameterError", "recipe", "validate_parameters",
    "Splits", "prepare_images", "prepare_splits", "split_validation",
    "describe_environment", "run_metrics", "save_results",
    "dataset_table", "members_table", "parameters_table", "per_class_table", "provenance_table", "splits_table",
    "TrainingResult", "fit_model", "set_reproducible", "train_network",
]
