import papermill
import pytest

from conftest import REPOSITORY
from digitlib.params import (
    DEFAULTS,
    ParameterError,
    load_parameters_file,
    parse_value,
    validate_parameters,
)


def test_defaults_are_the_seeds_recipe():
    assert validate_parameters() == DEFAULTS
    assert DEFAULTS["model"] == "seed" and DEFAULTS["epochs"] == 10 and DEFAULTS["batch_size"] == 32


def test_notebook_parameters_cell_matches_the_contract():
    inspected = papermill.inspect_notebook(str(REPOSITORY / "notebooks" / "mnist_cnn.ipynb"))
    in_notebook = {name: eval(spec["default"]) for name, spec in inspected.items()}  # literals only
    assert in_notebook == {**DEFAULTS, "output_dir": None}
    assert all(spec["help"] for spec in inspected.values()), "every knob is documented in its comment"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ParameterError, match=r"unknown parameter 'epoch'; valid names: model, epochs"):
        validate_parameters(epoch=3)


@pytest.mark.parametrize("name, value, message", [
    ("epochs", 0, r"'epochs'=0 must be at least 1"),
    ("epochs", "ten", r"'epochs' must be int, got 'ten'"),
    ("epochs", 2.5, r"'epochs' must be int"),
    ("epochs", True, r"'epochs' must be int"),
    ("epochs", None, r"'epochs' needs a value"),
    ("batch_size", -1, "must be at least 1"),
    ("learning_rate", 0, "must be greater than 0"),
    ("validation_split", 1.0, r"must be in \[0, 1\)"),
    ("model", "resnet", "unknown model; choose one of: seed"),
    ("train_limit", 0, "must be at least 1"),
    ("data_dir", 3, r"'data_dir' must be str or None"),
])
def test_bad_values_are_refused_with_the_reason(name, value, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters({name: value})


def test_ints_are_accepted_for_floats_and_none_for_optionals():
    values = validate_parameters(learning_rate=1, train_limit=None)
    assert values["learning_rate"] == 1.0 and isinstance(values["learning_rate"], float)


@pytest.mark.parametrize("text, value", [("10", 10), ("0.5", 0.5), ("null", None), ("seed", "seed"), ("a: [", "a: [")])
def test_command_line_values_are_read_as_yaml(text, value):
    assert parse_value(text) == value


def test_parameters_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("epochs: 2\ntrain_limit: 100\n")
    assert load_parameters_file(str(path)) == {"epochs": 2, "train_limit": 100}
    path.write_text("- epochs\n")
    with pytest.raises(ParameterError, match="must hold a mapping"):
        load_parameters_file(str(path))
    with pytest.raises(ParameterError, match="cannot read parameters file"):
        load_parameters_file(str(tmp_path / "missing.yaml"))
