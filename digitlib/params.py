"""The parameters of a report: the contract between the notebook and its runner.

One table, :data:`PARAMETERS`, defines every knob, its default and what it
means. The notebook's ``parameters`` cell carries the same defaults (a test
keeps them in step), the CLI parses ``-p NAME VALUE`` against it, and both the
runner and the notebook validate with :func:`validate_parameters`, so a bad
value is refused before any training starts, however the notebook is run.
:data:`REGISTRY` holds the four runnable notebooks, each a :class:`Notebook` with its own contract.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .layout import DRAWINGS_DIR, IMAGE_PREDICTIONS_FILE, METRICS_FILE, MODEL_FILE, NOTEBOOKS, REPORTS_DIR
from .models import MEMBER_MODEL, SCHEDULES, model_names, model_spec
from .yamlfile import InvalidYaml, YamlInputError, load_yaml_file, load_yaml_text


class ParameterError(ValueError):
    """A report parameter is unknown or has an invalid value."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    kind: type | tuple[type, ...]
    help: str
    optional: bool = False  # None is allowed
    check: Callable[[Any], str | None] = lambda value: None  # returns a complaint or None
    path: bool = False  # a file or folder: the runner makes a caller's relative path absolute


MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit
MAX_COUNT = 1_000_000_000  # epochs, batch size, members, limits: far above any real run; more is a typo


def _at_least(minimum: int) -> Callable[[Any], str | None]:
    """A count's check: at least `minimum`, and at most :data:`MAX_COUNT`."""
    return lambda value: (f"must be at least {minimum}" if value < minimum else
                          f"must be at most {MAX_COUNT:,}" if value > MAX_COUNT else None)


def _known_model(value: str) -> str | None:
    return None if value in model_names() else f"unknown model; choose one of: {', '.join(model_names())}"


def _by_model(name: str, models: tuple[str, ...] = ("fast", "seed")) -> str:
    """'None: the model's recipe (fast: 12, seed: 10)', read from the registry, never copied by hand."""
    values = ", ".join(f"{model}: {getattr(model_spec(model), name):g}" for model in models)
    return f"None: the model's own ({values})"


# The training knobs every model of the registry has its own values for: what a model was tuned with.
RECIPE = ("epochs", "batch_size", "learning_rate", "schedule", "label_smoothing")
# Knobs added after runs had been recorded, with the value every run recorded before them trained with: a run
# read back without one counts with this value (its identity, its members, a comparison), never the model's own.
EARLIER_RUNS_VALUES: Mapping[str, Any] = MappingProxyType({"label_smoothing": 0.0})
# Parameters left at None take the chosen model's value: its recipe, its validation split, an ensemble's size.
MODEL_DEFAULTS = (*RECIPE, "validation_split", "members")

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("model", "fast", str, f"network from the model registry ({', '.join(model_names())})",
              check=_known_model),
    Parameter("epochs", None, int, f"passes over the training set; {_by_model('epochs')}",
              optional=True, check=_at_least(1)),
    Parameter("batch_size", None, int, f"images per gradient step; {_by_model('batch_size')}",
              optional=True, check=_at_least(1)),
    Parameter("learning_rate", None, float, f"Adam's (peak) step size; {_by_model('learning_rate')}",
              optional=True, check=lambda v: None if v > 0 else "must be greater than 0"),
    Parameter("schedule", None, str, f"learning-rate schedule, {' or '.join(SCHEDULES)}; "
              "None: the model's own", optional=True,
              check=lambda v: None if v in SCHEDULES else f"must be one of: {', '.join(SCHEDULES)}"),
    Parameter("label_smoothing", None, float, "share of each training label spread evenly over the ten digits "
              f"(0: none); {_by_model('label_smoothing', ('fast', 'strong'))}", optional=True,
              check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
    Parameter("validation_split", None, float, "fraction of the training set held out to watch overfitting; "
              f"{_by_model('validation_split')}", optional=True,
              check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
    Parameter("members", None, int, f"ensemble only: how many {MEMBER_MODEL} networks, seeded seed, seed+1, ...; "
              f"None: {model_spec('ensemble').members}", optional=True, check=_at_least(2)),
    Parameter("seed", 42, int, "seeds Python, NumPy, the backend and the validation split",
              check=lambda v: None if 0 <= v <= MAX_SEED else f"must be between 0 and {MAX_SEED}"),
    Parameter("data_dir", None, str, "folder with the MNIST files; None: $DIGITLIB_DATA_DIR, else download",
              optional=True, path=True),
    Parameter("train_limit", None, int, "use only the first N training images (quick runs); None: all 60,000",
              optional=True, check=_at_least(1)),
    Parameter("test_limit", None, int, "use only the first N test images; None: all 10,000",
              optional=True, check=_at_least(1)),
)
DEFAULTS: dict[str, Any] = {parameter.name: parameter.default for parameter in PARAMETERS}


def as_recorded(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A training run's recorded parameters with what it did not record filled in, as it trained: a knob added
    since at the value earlier runs trained with (:data:`EARLIER_RUNS_VALUES`), any other at its default."""
    return {**DEFAULTS, **EARLIER_RUNS_VALUES, **parameters}


def _list_of_paths(value: Any) -> str | None:
    if isinstance(value, list) and (not value or not all(isinstance(item, str) for item in value)):
        return "must be a path or a non-empty list of paths"
    return None


_MODEL_PATH = Parameter("model_path", None, str, "the trained model.keras to use, or the run folder that saved it "
                        "(relative paths: from notebooks/); "
                        f"None: the best finished model in ../{REPORTS_DIR}, as `digitlib predict` chooses it",
                        optional=True, path=True)
PREDICTION_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("images", "samples", (str, list), "an image, a folder of images, or a list of them "
              "(relative paths: from notebooks/)", check=_list_of_paths, path=True),
    _MODEL_PATH,
    Parameter("low_confidence", 0.8, float, "flag predictions whose probability is below this",
              check=lambda v: None if 0 <= v <= 1 else "must be in [0, 1]"),
    Parameter("top", 3, int, "how many likeliest digits to list per image",
              check=lambda v: None if 1 <= v <= 10 else "must be between 1 and 10"),
    Parameter("number", False, bool, "also read each picture as a whole number: its digits found, boxed and "
              "read left to right, lines top to bottom, as `digitlib predict --number` reads them"),
)


DRAWING_PARAMETERS: tuple[Parameter, ...] = (
    _MODEL_PATH,
    Parameter("keep_in", DRAWINGS_DIR, str, "the folder where the canvas's keep button saves drawings as "
              "label<digit>_<n>.png (relative paths: from notebooks/)",
              check=lambda v: None if v.strip() else "must name a folder", path=True),
)


COMPARISON_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("runs", f"../{REPORTS_DIR}", (str, list), "run directories, or a folder of runs "
              "(relative paths: from notebooks/)", check=_list_of_paths, path=True),
    Parameter("title", "All runs", str, "what is being compared, shown in the report"),
    Parameter("data_dir", None, str, "folder with the MNIST files for the shared-mistakes section; "
              "None: $DIGITLIB_DATA_DIR, else download", optional=True, path=True),
)


def _validate(contract: tuple[Parameter, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    by_name = {parameter.name: parameter for parameter in contract}
    unknown = sorted(set(given) - set(by_name), key=repr)  # a YAML key may be a number, null or true
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(_shown, unknown))}; "
            f"valid names: {', '.join(by_name)}"
        )
    result = {parameter.name: parameter.default for parameter in contract}
    for name, value in given.items():
        result[name] = _checked(by_name[name], value)
    return result


def validate_prediction_parameters(values: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """The parameters of predict_your_digits.ipynb, checked like the training ones."""
    return _validate(PREDICTION_PARAMETERS, {**(values or {}), **more})


def validate_drawing_parameters(values: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """The parameters of draw_a_digit.ipynb."""
    return _validate(DRAWING_PARAMETERS, {**(values or {}), **more})


def validate_comparison_parameters(values: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """The parameters of compare_runs.ipynb."""
    return _validate(COMPARISON_PARAMETERS, {**(values or {}), **more})


def validate_parameters(values: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """All parameters, defaults filled in, each checked; raises ParameterError naming the culprit.

    Training knobs left at None are resolved from the chosen model's recipe, so the
    result always holds the values that will actually be used.
    """
    result = _validate(PARAMETERS, {**(values or {}), **more})
    spec = model_spec(result["model"])
    if result["members"] is not None and spec.members is None:
        raise ParameterError(f"parameter 'members' applies only to model 'ensemble', not {result['model']!r}; "
                             "leave it out (or null)")
    for name in MODEL_DEFAULTS:
        if result[name] is None:
            result[name] = getattr(spec, name)
    return result


def shown_value(value: Any) -> str:
    """A parameter's value as a page's table shows it: a list's items joined by commas, a float as short as it
    reads back exactly (0.005, 1e-05, 5), anything else as text."""
    if isinstance(value, list):
        return ", ".join(map(shown_value, value))
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


# A value as it reads in a message: its repr, cut short (a value may be megabytes long).
_short = reprlib.Repr()  # Python 3.11 takes no keywords here
_short.maxstring = _short.maxother = _short.maxlong = 80
_shown = _short.repr


def _checked(parameter: Parameter, value: Any) -> Any:
    if value is None:
        if parameter.optional:
            return None
        raise ParameterError(f"parameter {parameter.name!r} needs a value ({parameter.help})")
    if parameter.kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ParameterError(f"parameter {parameter.name!r} is too large, got {value}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"parameter {parameter.name!r} must be a finite number, got {value}")
    kinds = parameter.kind if isinstance(parameter.kind, tuple) else (parameter.kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is no number
        raise ParameterError(
            f"parameter {parameter.name!r} must be {' or '.join(kind.__name__ for kind in kinds)}"
            f"{' or None' if parameter.optional else ''}, got {_shown(value)}"
        )
    complaint = parameter.check(value)
    if complaint:
        raise ParameterError(f"parameter {parameter.name!r}={_shown(value)} {complaint}")
    if parameter.path:
        for item in value if isinstance(value, list) else [value]:
            _no_nul(parameter.name, item)
    return value


def _no_nul(name: str, path: str) -> None:
    """A path parameter's value, refused if it holds a NUL character (Python's file functions would raise)."""
    if "\0" in path:
        raise ParameterError(f"parameter {name!r}={_shown(path)} holds a NUL character, which no path can")


def parse_value(text: str) -> Any:
    """A command-line value as YAML scalar, like papermill's ``-p``: '10' is 10, 'null' is None.

    Text that is not YAML stays text; anchors, aliases, tags and values YAML cannot build (2026-02-30) are refused.
    """
    try:
        return load_yaml_text(text, "<-p value>")
    except InvalidYaml:
        return text
    except YamlInputError as error:
        raise ParameterError(str(error)) from None


def load_parameters_file(path: str) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) mapping file."""
    try:
        loaded = load_yaml_file(path, "parameters file").data
    except YamlInputError as error:
        raise ParameterError(str(error)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(f"{path} must hold a mapping of parameter names to values")
    return loaded


def describe_parameters() -> str:
    """A plain-text table of every training parameter, its default and meaning (for --help)."""
    return "\n".join(f"  {p.name:<17} {p.default!r:<8} {p.help}" for p in PARAMETERS)


def parameters_markdown() -> str:
    """The README's table of training parameters (a test keeps the README equal to it)."""
    import json

    rows = [f"| `{p.name}` | `{json.dumps(p.default)}` | {p.help} |" for p in PARAMETERS]
    return "\n".join(["| parameter | default | meaning |", "|---|---|---|", *rows])


def model_label(parameters: Mapping[str, Any]) -> str:
    """The model of validated parameters in a few words: 'fast', or 'ensemble of 3'."""
    members = parameters.get("members")
    return f"{parameters['model']} of {members}" if members else parameters["model"]


def recipe(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The training knobs of validated parameters, ready for ``fit_model(model, splits, **recipe(...))``."""
    return {name: parameters[name] for name in RECIPE}


@dataclass(frozen=True, eq=False)
class Notebook:
    """A runnable notebook, notebooks/NAME.ipynb, and the contract its parameters cell follows."""

    name: str
    kind: str  # what it does, in a word a page can show: "training", "prediction", "comparison"
    parameters: tuple[Parameter, ...]
    validate: Callable[..., dict[str, Any]]  # its parameters, defaults filled in, each checked
    set_by_the_runner: Mapping[str, str]  # what `digitlib report` sets besides the parameters: name -> meaning
    # Saves a model and metrics: has a run identity, resumes from checkpoints, counts for best and latest, is compared.
    trains: bool = False

    @property
    def path(self) -> Path:
        """The project's notebooks/NAME.ipynb."""
        return NOTEBOOKS / f"{self.name}.ipynb"


TRAINING = Notebook(
    "mnist_cnn", "training", PARAMETERS, validate_parameters, MappingProxyType({
        "output_dir": f"where {METRICS_FILE} and {MODEL_FILE} are saved; None: nowhere (set by `digitlib report`)",
        "reports_dir": "finished runs an ensemble may load members from; None: none (set by `digitlib report`)",
    }), trains=True)
PREDICTION = Notebook(
    "predict_your_digits", "prediction", PREDICTION_PARAMETERS, validate_prediction_parameters, MappingProxyType({
        "output_dir": f"where {IMAGE_PREDICTIONS_FILE} is saved; None: nowhere (set by `digitlib report`)",
    }))
COMPARISON = Notebook(
    "compare_runs", "comparison", COMPARISON_PARAMETERS, validate_comparison_parameters, MappingProxyType({
        "output_dir": "unused: a comparison saves nothing but its report (set by `digitlib report`)",
    }))
# Runs in JupyterLab for someone to draw on; under papermill (`digitlib report`) its page says the canvas needs
# JupyterLab and shows a reading of a sample drawing instead.
DRAWING = Notebook(
    "draw_a_digit", "drawing", DRAWING_PARAMETERS, validate_drawing_parameters, MappingProxyType({
        "output_dir": "unused: a drawing saves nothing but its report (set by `digitlib report`)",
    }))
# Each runnable notebook by its name, the training one first (`digitlib report --notebook NAME`).
REGISTRY: Mapping[str, Notebook] = MappingProxyType({each.name: each for each in (TRAINING, PREDICTION, COMPARISON,
                                                                                  DRAWING)})


def notebook_names() -> list[str]:
    return list(REGISTRY)


def notebook(name: str) -> Notebook:
    """The runnable notebook called `name`; a ParameterError listing the others for a name that is none of them."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown notebook {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def parameters_cell(name: str) -> str:
    """The source of notebooks/NAME.ipynb's `parameters` cell, generated from its contract: the
    notebooks carry exactly these defaults and comments (a test compares them)."""
    import json

    contract = notebook(name)
    lines = [f"# Parameters: papermill overrides this cell, and `digitlib report --notebook {name}` "
             "validates them first"]
    literal = lambda value: json.dumps(value) if isinstance(value, str) else repr(value)  # noqa: E731
    lines += [f"{p.name} = {literal(p.default)}  # {p.help}" for p in contract.parameters]
    lines += [f"{variable} = None  # {meaning}" for variable, meaning in contract.set_by_the_runner.items()]
    return "\n".join(lines)


def validate_notebook_parameters(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check `values` against the contract of notebooks/NAME.ipynb."""
    return notebook(name).validate(values)


def validate_recorded(name: str, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A run's recorded parameters checked against the contract of notebooks/NAME.ipynb, and what the run did not
    record filled in as it ran: a training knob added since at the value earlier runs trained with
    (:func:`as_recorded`), never the model's own."""
    contract = notebook(name)
    return contract.validate(as_recorded(recorded) if contract.trains else recorded)


def absolute_paths(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's relative file and folder parameters made absolute (the kernel runs in notebooks/)."""
    paths = {p.name for p in notebook(name).parameters if p.path}

    def absolute(key: str, value: Any) -> Any:
        if isinstance(value, list):
            return [absolute(key, item) for item in value]
        if not isinstance(value, str):
            return value  # validation says what it should be
        _no_nul(key, value)
        try:
            return str(Path(value).expanduser().resolve())
        except RuntimeError:  # ~name of no user here
            raise ParameterError(f"parameter {key!r}={_shown(value)} starts with a ~ that names no user's home "
                                 "folder here; write the path out") from None
        except (OSError, ValueError) as error:
            raise ParameterError(f"parameter {key!r}={_shown(value)} is no usable path: {error}") from None

    return {key: absolute(key, value) if key in paths else value for key, value in given.items()}


def command_line_value(value: Any) -> str:
    """`value` as ``-p NAME VALUE`` takes it: text that :func:`parse_value` reads back as this very value (plain
    where that is so, else a double-quoted YAML scalar or flow list); ParameterError for one it cannot write."""
    import json

    if isinstance(value, float):
        text = repr(value)
        mantissa, exponent, power = text.partition("e")
        # YAML 1.1 reads 1e-05 as text; 1.0e-05 is the float
        candidates = [text, f"{mantissa}.0e{power}" if exponent and "." not in mantissa else text]
    elif isinstance(value, str):  # plain unless the command line would take it for an option (-x)
        candidates = ([] if value.startswith("-") else [value]) + [json.dumps(value, ensure_ascii=False)]
    elif isinstance(value, list):
        candidates = [json.dumps(value, ensure_ascii=False)]
    else:
        candidates = ["null" if value is None else str(value)]
    for text in candidates:
        try:
            read = parse_value(text)
        except ParameterError:  # an anchor, alias or tag (&, *, !), or 2026-02-30: not as plain text
            continue
        if type(read) is type(value) and read == value:
            return text
    raise ParameterError(f"{_shown(value)} cannot be written as a command-line value that reads back the same")


def rebuild_command(parameters: Mapping[str, Any], *, backend: str, notebook_name: str = TRAINING.name) -> str:
    """The one shell command that runs this report again: ``digitlib report --backend B -p NAME VALUE ...``
    with `parameters` (validated, as run.json and metrics.json record them). It names the parameters that
    differ from what the command would use without them (for training, the chosen model's own recipe), each
    value written so that the command line reads it back the same (:func:`command_line_value`) and quoted for
    a POSIX shell."""
    import shlex

    contract = notebook(notebook_name)
    usual = contract.validate({})
    if "model" in parameters:  # the model chosen sets the others' usual values: its recipe
        usual = {**contract.validate({"model": parameters["model"]}), "model": usual["model"]}
    words = ["digitlib", "report", "--backend", backend]
    if contract is not TRAINING:
        words += ["--notebook", contract.name]
    for name in (each.name for each in contract.parameters if each.name in parameters):
        if parameters[name] != usual[name]:
            words += ["-p", name, command_line_value(parameters[name])]
    return shlex.join(words)
