import nbformat
import papermill
import pytest

from conftest import REPOSITORY
from digitlib.params import (
    COMPARISON,
    DEFAULTS,
    DRAWING,
    PREDICTION,
    REGISTRY,
    TRAINING,
    ParameterError,
    absolute_paths,
    as_recorded,
    command_line_value,
    load_parameters_file,
    parse_value,
    rebuild_command,
    recipe,
    validate_drawing_parameters,
    validate_notebook_parameters,
    validate_parameters,
    validate_prediction_parameters,
    validate_recorded,
)


def test_defaults_are_the_fast_models_recipe():
    assert DEFAULTS["model"] == "fast" and DEFAULTS["epochs"] is None
    resolved = validate_parameters()
    assert resolved == {**DEFAULTS, "epochs": 12, "batch_size": 256, "learning_rate": 0.005,
                        "schedule": "one-cycle", "label_smoothing": 0.0, "validation_split": 0.1}


def test_the_seed_model_is_one_parameter_away_with_its_own_recipe():
    seed = validate_parameters(model="seed")
    assert (seed["epochs"], seed["batch_size"], seed["learning_rate"], seed["schedule"], seed["validation_split"]) == (
        10, 32, 0.001, "constant", 0.0)
    assert recipe(seed) == {"epochs": 10, "batch_size": 32, "learning_rate": 0.001, "schedule": "constant",
                            "label_smoothing": 0.0}


def test_explicit_values_win_over_the_recipe():
    assert validate_parameters(model="seed", epochs=2, validation_split=0.2)["epochs"] == 2
    assert validate_parameters(model="keras-example", schedule="one-cycle")["schedule"] == "one-cycle"
    assert recipe(validate_parameters(model="fast", label_smoothing=0.1))["label_smoothing"] == 0.1
    assert recipe(validate_parameters(model="strong", label_smoothing=0.0))["label_smoothing"] == 0.0


def test_label_smoothing_is_the_models_own_and_a_run_recorded_before_it_trained_without():
    """strong and its ensembles smooth their labels by 0.1 and fast not at all; a run whose parameters do not
    name label_smoothing was recorded before the knob existed, when every model trained against plain labels."""
    assert [validate_parameters(model=name)["label_smoothing"] for name in ("fast", "strong", "ensemble")] == [
        0.0, 0.1, 0.1]
    assert as_recorded({"model": "strong", "seed": 3})["label_smoothing"] == 0.0
    assert as_recorded({"model": "strong", "label_smoothing": 0.1})["label_smoothing"] == 0.1
    assert as_recorded({"model": "strong"})["epochs"] is None  # any other knob: its default, as before


def test_a_recorded_run_reads_back_as_it_ran_not_as_its_model_trains_now():
    """What resuming a run and the index read: a strong run recorded before label smoothing existed trained
    without it, although strong now smooths by 0.1; other notebooks' runs are only validated."""
    strong = validate_parameters(model="strong", seed=3)
    earlier = {name: value for name, value in strong.items() if name != "label_smoothing"}
    assert validate_recorded("mnist_cnn", earlier) == {**strong, "label_smoothing": 0.0}
    assert validate_recorded("mnist_cnn", strong) == strong
    assert validate_recorded("predict_your_digits", {"top": 2}) == validate_prediction_parameters(top=2)
    with pytest.raises(ParameterError, match="unknown parameter 'label_smoothing'"):
        validate_recorded("predict_your_digits", {"label_smoothing": 0.0})


@pytest.mark.parametrize("notebook", list(REGISTRY))
def test_notebook_parameters_cell_is_generated_from_the_contract(notebook):
    """Defaults and comments are defined once, in digitlib/params.py: the notebooks carry exactly them."""
    from digitlib.params import parameters_cell

    cells = nbformat.read(REPOSITORY / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    (cell,) = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert cell.source == parameters_cell(notebook), (
        "regenerate the cell: paste digitlib.params.parameters_cell(notebook) into it")
    inspected = papermill.inspect_notebook(str(REPOSITORY / "notebooks" / f"{notebook}.ipynb"))
    contract = {p.name: (p.default, p.help) for p in REGISTRY[notebook].parameters}
    assert {name: (eval(spec["default"]), spec["help"]) for name, spec in inspected.items()} == {
        **contract, **{name: (None, meaning) for name, meaning in REGISTRY[notebook].set_by_the_runner.items()}}


def test_the_readme_and_help_describe_the_parameters_as_defined():
    from digitlib.params import parameters_markdown
    from digitlib.run.cli import _parser

    assert parameters_markdown() in (REPOSITORY / "README.md").read_text(), (
        "update README's parameter table from digitlib.params.parameters_markdown()")
    report_help = _parser()._subparsers._group_actions[0].choices["report"].format_help()
    for parameter in TRAINING.parameters:
        assert " ".join(parameter.help.split()) in " ".join(report_help.split())


def test_recipe_numbers_in_the_help_come_from_the_registry():
    from digitlib.models import model_spec

    epochs = next(p for p in TRAINING.parameters if p.name == "epochs")
    assert f"fast: {model_spec('fast').epochs}, seed: {model_spec('seed').epochs}" in epochs.help


def test_prediction_parameters():
    assert validate_prediction_parameters(images=["a.png", "b/"])["images"] == ["a.png", "b/"]
    with pytest.raises(ParameterError, match="must be a path or a non-empty list of paths"):
        validate_prediction_parameters(images=[])
    with pytest.raises(ParameterError, match="'low_confidence'=2.0 must be in"):
        validate_prediction_parameters(low_confidence=2)
    with pytest.raises(ParameterError, match="unknown notebook 'nope'"):
        validate_notebook_parameters("nope", {})


def test_drawing_parameters():
    assert validate_drawing_parameters() == {"model_path": None, "keep_in": "my_digits"}
    assert validate_drawing_parameters(keep_in="mine/ones")["keep_in"] == "mine/ones"
    for bad, said in (("  ", "'keep_in'='  ' must name a folder"), (3, "'keep_in' must be str, got 3")):
        with pytest.raises(ParameterError, match=said):
            validate_drawing_parameters(keep_in=bad)
    assert DRAWING.parameters[0] is PREDICTION.parameters[1]  # model_path: one definition, the same words


def test_the_registry_holds_each_runnable_notebook_once():
    from digitlib.params import notebook, notebook_names

    assert notebook_names() == ["mnist_cnn", "predict_your_digits", "compare_runs", "draw_a_digit"]  # in order
    assert [(each.kind, each.trains) for each in REGISTRY.values()] == [
        ("training", True), ("prediction", False), ("comparison", False), ("drawing", False)]
    assert (TRAINING, PREDICTION, COMPARISON, DRAWING) == tuple(map(notebook, notebook_names()))
    for each in REGISTRY.values():
        assert each.path == REPOSITORY / "notebooks" / f"{each.name}.ipynb" and each.path.is_file()
        assert "output_dir" in each.set_by_the_runner
    assert list(TRAINING.set_by_the_runner) == ["output_dir", "reports_dir"]  # where an ensemble finds members
    assert TRAINING.validate is validate_parameters and PREDICTION.validate is validate_prediction_parameters
    with pytest.raises(TypeError):
        TRAINING.set_by_the_runner["extra"] = "x"  # the registry is read, never changed


@pytest.mark.parametrize("name", ["nope", "", ["mnist_cnn"], None])
def test_an_unknown_notebook_is_refused_naming_the_known_ones(name):
    from digitlib.params import notebook

    with pytest.raises(ParameterError, match=r"unknown notebook .*; choose one of: mnist_cnn, predict_your_digits, "
                                             r"compare_runs, draw_a_digit$"):
        notebook(name)
    with pytest.raises(ParameterError, match="unknown notebook"):
        absolute_paths(name, {})


def test_relative_paths_become_absolute_for_the_kernel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    given = absolute_paths("predict_your_digits", {"images": ["x.png", "d"], "top": 2})
    assert given == {"images": [str(tmp_path / "x.png"), str(tmp_path / "d")], "top": 2}
    assert absolute_paths("mnist_cnn", {"data_dir": "m", "epochs": 1})["data_dir"] == str(tmp_path / "m")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ParameterError, match=r"unknown parameter 'epoch'; valid names: model, epochs"):
        validate_parameters(epoch=3)


@pytest.mark.parametrize("name, value, message", [
    ("epochs", 0, r"'epochs'=0 must be at least 1"),
    ("epochs", "ten", r"'epochs' must be int or None, got 'ten'"),
    ("epochs", 2.5, r"'epochs' must be int"),
    ("epochs", True, r"'epochs' must be int"),
    ("seed", None, r"'seed' needs a value"),
    ("batch_size", -1, "must be at least 1"),
    ("learning_rate", 0, "must be greater than 0"),
    ("validation_split", 1.0, r"must be in \[0, 1\)"),
    ("label_smoothing", 1, r"'label_smoothing'=1.0 must be in \[0, 1\)"),
    ("label_smoothing", -0.1, r"must be in \[0, 1\)"),
    ("model", "resnet", "unknown model; choose one of: seed, keras-example, fast-plain, fast, strong"),
    ("schedule", "cyclic", "must be one of: constant, one-cycle"),
    ("train_limit", 0, "must be at least 1"),
    pytest.param("epochs", 10**400, r"'epochs'=10+\.\.\.0+ must be at most 1,000,000,000$", id="epochs-10**400"),
    ("batch_size", 1_000_000_001, r"'batch_size'=1000000001 must be at most 1,000,000,000$"),
    ("members", 10**30, r"must be at most 1,000,000,000"),
    ("test_limit", 10**10, r"must be at most 1,000,000,000"),
    ("data_dir", 3, r"'data_dir' must be str or None"),
    ("seed", -1, r"'seed'=-1 must be between 0 and 4294967295"),
    ("seed", 2**70, r"'seed'=1180591620717411303424 must be between 0 and 4294967295"),
    ("learning_rate", float("inf"), r"'learning_rate' must be a finite number, got inf"),
    pytest.param("learning_rate", 10**400, r"'learning_rate' is too large", id="learning_rate-10**400"),
    ("validation_split", float("nan"), r"'validation_split' must be a finite number"),
    pytest.param("epochs", "x" * 10**6, r"'epochs' must be int or None, got 'x+\.\.\.x+'$", id="epochs-a-megabyte"),
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


def test_a_parameters_file_with_keys_of_mixed_types_is_one_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("1: a\nfoo: b\nnull: c\n")
    with pytest.raises(ParameterError, match=r"^unknown parameters 'foo', 1, None; valid names: model, "):
        validate_parameters(load_parameters_file(str(path)))


@pytest.mark.parametrize("value, message", [
    ("~nosuchuser-digitlib/x", r"^parameter 'data_dir'='~nosuchuser-digitlib/x' starts with a ~ that names no "
                               r"user's home folder here; write the path out$"),
    ("a\0b", r"^parameter 'data_dir'='a\\x00b' holds a NUL character, which no path can$"),
])
def test_a_path_no_system_can_use_is_one_line(value, message):
    with pytest.raises(ParameterError, match=message):
        absolute_paths("mnist_cnn", {"data_dir": value})


@pytest.mark.parametrize("text, message", [
    ("1" + "0" * 5000, r"<-p value>:1: '10+\.\.\.0+' is not a valid int \(Exceeds the limit"),
    ("2026-02-30", r"<-p value>:1: '2026-02-30' is not a valid timestamp \(day is out of range for month\); "
                   "quote it to keep it as text$"),
    ("!!str 5", r"tags \(!, !!\) are not supported in <-p value>:1"),
])
def test_a_command_line_value_yaml_cannot_build_is_one_line(text, message):
    with pytest.raises(ParameterError, match=message):
        parse_value(text)


def test_the_cli_refuses_odd_parameters_in_one_line_creating_nothing(tmp_path):
    from conftest import digitlib_in_process

    (tmp_path / "p.yaml").write_text('1: a\nfoo: b\n')
    (tmp_path / "nul.yaml").write_text('data_dir: "a\\0b"\n')
    for arguments in (["--params-file", "p.yaml"], ["--params-file", "nul.yaml"],
                      ["-p", "data_dir", "~nosuchuser-digitlib/x"], ["-p", "seed", "1" + "0" * 5000],
                      ["-p", "data_dir", "2026-02-30"], ["-p", "batch_size", str(10**400)]):
        result = digitlib_in_process("report", *arguments, cwd=tmp_path)
        assert result.returncode == 2, (arguments, result.stderr[-2000:])
        assert result.stderr.startswith("digitlib: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nul.yaml", "p.yaml"]


def test_model_label_names_an_ensemble_with_its_size():
    from digitlib.params import model_label

    assert model_label(validate_parameters(model="fast")) == "fast"
    assert model_label(validate_parameters(model="ensemble", members=5)) == "ensemble of 5"


AWKWARD = ["a folder/with spaces", "it's", '"quoted"', "<script>alert(1)</script>\"'&", "null", "10", "x: y",
           "&anchor", "*alias", "line\nbreak", "~", "-starts-like-an-option", "# not a comment", "yes", "ünïcødé 🙂",
           "!!str tagged", "2026-02-30"]


@pytest.mark.parametrize("awkward", AWKWARD)
def test_the_rebuild_command_reads_back_as_the_same_parameters(awkward):
    import shlex

    from digitlib.run.cli import _parser

    parameters = validate_parameters(model="seed", epochs=3, learning_rate=1e-05, validation_split=0.0, seed=0,
                                     data_dir=awkward, train_limit=500)
    command = rebuild_command(parameters, backend="jax")
    arguments = _parser().parse_args(shlex.split(command)[1:])  # as the shell, then `digitlib`, read it
    assert shlex.split(command)[:2] == ["digitlib", "report"] and arguments.backend == "jax"
    assert validate_parameters({name: parse_value(value) for name, value in arguments.parameter}) == parameters


def test_the_rebuild_command_names_only_what_differs_from_the_defaults():
    assert rebuild_command(validate_parameters(), backend="tensorflow") == "digitlib report --backend tensorflow"
    seed = validate_parameters(model="seed", epochs=10)  # the seed model's own epochs: not named
    assert rebuild_command(seed, backend="tensorflow") == "digitlib report --backend tensorflow -p model seed"
    assert rebuild_command(validate_parameters(learning_rate=0.002, test_limit=100), backend="jax") == (
        "digitlib report --backend jax -p learning_rate 0.002 -p test_limit 100")
    predict = validate_prediction_parameters(images=["a.png", "b c.png"], top=2)
    assert rebuild_command(predict, backend="tensorflow", notebook_name="predict_your_digits") == (
        "digitlib report --backend tensorflow --notebook predict_your_digits -p images '[\"a.png\", \"b c.png\"]' "
        "-p top 2")
    assert [command_line_value(v) for v in (1e-05, 2.5e+20, 0.1, 3, None)] == ["1.0e-05", "2.5e+20", "0.1", "3", "null"]


def test_a_value_is_shown_as_short_as_it_reads_back_exactly():
    from digitlib.params import shown_value

    assert [shown_value(value) for value in (0.005, 1e-05, 5.0, 0.0050001, 1234567.0, [64, 0.5], "fast", None)] == [
        "0.005", "1e-05", "5", "0.0050001", "1234567.0", "64, 0.5", "fast", "None"]
