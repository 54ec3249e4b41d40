"""The parameters of a report: the contract between the notebook and its runner.

One table, :data:`PARAMETERS`, defines every knob, its default and what it
means. The notebook's ``parameters`` cell carries the same defaults (a test
keeps them in step), the CLI parses ``-p NAME VALUE`` against it, and both the
runner and the notebook validate with :func:`validate_parameters`, so a bad
value is refused before any training starts, however the notebook is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import yaml

from .models import model_names


class ParameterError(ValueError):
    """A report parameter is unknown or has an invalid value."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    kind: type
    help: str
    optional: bool = False  # None is allowed
    check: Callable[[Any], str | None] = lambda value: None  # returns a complaint or None


def _at_least(minimum: int) -> Callable[[Any], str | None]:
    return lambda value: None if value >= minimum else f"must be at least {minimum}"


def _known_model(value: str) -> str | None:
    return None if value in model_names() else f"unknown model; choose one of: {', '.join(model_names())}"


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("model", "seed", str, "network from the model registry", check=_known_model),
    Parameter("epochs", 10, int, "passes over the training set (the seed trains 10)", check=_at_least(1)),
    Parameter("batch_size", 32, int, "images per gradient step (Keras' default, as the seed)", check=_at_least(1)),
    Parameter("learning_rate", 0.001, float, "Adam's step size (Keras' default)",
              check=lambda v: None if v > 0 else "must be greater than 0"),
    Parameter("validation_split", 0.0, float,
              "fraction of the training set held out to watch overfitting; 0 trains on all 60,000 as the seed",
              check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
    Parameter("seed", 42, int, "seeds Python, NumPy, TensorFlow and the validation split"),
    Parameter("data_dir", None, str, "folder with the MNIST files; None: $DIGITLIB_DATA_DIR, else download",
              optional=True),
    Parameter("train_limit", None, int, "use only the first N training images (quick runs); None: all 60,000",
              optional=True, check=_at_least(1)),
    Parameter("test_limit", None, int, "use only the first N test images; None: all 10,000",
              optional=True, check=_at_least(1)),
)
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}
DEFAULTS: dict[str, Any] = {parameter.name: parameter.default for parameter in PARAMETERS}


def validate_parameters(values: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """All parameters, defaults filled in, each checked; raises ParameterError naming the culprit."""
    given = {**(values or {}), **more}
    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid names: {', '.join(BY_NAME)}"
        )
    result = dict(DEFAULTS)
    for name, value in given.items():
        result[name] = _checked(BY_NAME[name], value)
    return result


def _checked(parameter: Parameter, value: Any) -> Any:
    if value is None:
        if parameter.optional:
            return None
        raise ParameterError(f"parameter {parameter.name!r} needs a value ({parameter.help})")
    if parameter.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, parameter.kind) or isinstance(value, bool):
        raise ParameterError(
            f"parameter {parameter.name!r} must be {parameter.kind.__name__}"
            f"{' or None' if parameter.optional else ''}, got {value!r}"
        )
    complaint = parameter.check(value)
    if complaint:
        raise ParameterError(f"parameter {parameter.name!r}={value!r} {complaint}")
    return value


def parse_value(text: str) -> Any:
    """A command-line value as YAML scalar, like papermill's ``-p``: '10' is 10, 'null' is None."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_parameters_file(path: str) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) mapping file."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as error:
        raise ParameterError(f"cannot read parameters file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ParameterError(f"{path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(f"{path} must hold a mapping of parameter names to values")
    return loaded


def describe_parameters() -> str:
    """A plain-text table of every parameter, its default and meaning (for --help and the README)."""
    return "\n".join(f"  {p.name:<17} {p.default!r:<8} {p.help}" for p in PARAMETERS)
