"""Reading run directories back as untrusted data: names, schemas, parameters, the notebook chosen by name."""

import json
import math
import re
import warnings

import pytest

from digitlib.params import ParameterError, validate_parameters
from digitlib.rundir import InvalidRun, RunDirectoryWarning, read_record, read_runs, run_directory
from digitlib.train.provenance import REPOSITORY

INJECTED_NAME = "x = 1\nimport os; os.system('touch /tmp/pwned')\ny"


def valid_metrics(accuracy: float = 0.9871, parameters: dict | None = None) -> dict:
    """A metrics.json that follows digitlib/metrics.schema.json."""
    return {
        "schema_version": 1, "model": "seed", "parameters": parameters or validate_parameters(model="seed", epochs=3),
        "test": {"accuracy": accuracy, "loss": 0.05, "images": 100, "mistakes": round(100 * (1 - accuracy))},
        "per_class": {str(d): {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10} for d in range(10)},
        "training": {"epochs": 3, "train_seconds": 12.3, "epoch_seconds": [4.1, 4.1, 4.1],
                     "history": {"loss": [0.3, 0.2, 0.1], "accuracy": [0.9, 0.95, 0.97]},
                     "train_images": 100, "validation_images": 0, "model_parameters": 1000},
        "data": {"source": "test", "sha256": {"a.gz": "0" * 64}},
        "reproducibility": {"seed": 42, "backend": "tensorflow", "op_determinism": True},
        "environment": {"versions": {"python": "3", "keras": "3", "numpy": "2"}, "backend": "tensorflow",
                        "device": {"type": "CPU", "name": "cpu"}, "platform": "x", "cpu": "x", "git_commit": None},
    }


def write_run(reports, run_id, *, status="succeeded", parameters=None, metrics=None, **record):
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": run_id, "notebook_name": "mnist_cnn", "status": status, "started": "2026-11-25T10:00:00+00:00",
        "parameters": parameters if parameters is not None else {"model": "seed", "epochs": 3}, **record}))
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


@pytest.mark.parametrize("run_id", ["", "../../../../tmp/somewhere", "/tmp/x", "a/b", "..", ".hidden", "x\ny",
                                    None, "a" * 200])
def test_a_run_id_is_a_plain_name_inside_the_reports_folder(tmp_path, run_id):
    with pytest.raises(ParameterError, match="is not a run id"):
        run_directory(tmp_path, run_id)


def test_latest_is_a_link_not_a_run(tmp_path):
    (tmp_path / "20261125-100000-aaaa").mkdir()
    (tmp_path / "latest").symlink_to("20261125-100000-aaaa")
    with pytest.raises(ParameterError, match="is a link to a run"):
        run_directory(tmp_path, "latest")
    assert run_directory(tmp_path, "20261125-100000-aaaa") == tmp_path / "20261125-100000-aaaa"


def test_a_run_id_comes_from_its_directory_not_its_file(tmp_path):
    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "run_id": '"><img src=x onerror=alert(1)>'}))
    assert read_record(tmp_path / "20261125-100000-aaaa")["run_id"] == "20261125-100000-aaaa"


@pytest.mark.parametrize("tamper, problem", [
    ({"parameters": {INJECTED_NAME: 1}}, "unknown parameter"),
    ({"parameters": {"epochs": "1; import os"}}, "'epochs' must be int"),
    ({"parameters": {"seed": -1}}, "'seed'=-1 must be between"),
    ({"notebook_name": "../../../tmp/evil"}, "unknown notebook"),
    ({"status": "succeeded; rm -rf"}, "does not match its schema at status"),
    ({"pid": "self"}, "does not match its schema at pid"),
    ({"parameters": ["model"]}, "does not match its schema at parameters"),
    ({"pid": 10**400}, "run.json holds the integer 1" + "0" * 23 + "… .401 digits., beyond ±2"),
    ({"resumed": 1.0}, "does not match its schema at resumed: 1.0 is not of type 'integer'"),
    ({"wall_seconds": 1e300}, "does not match its schema at wall_seconds: 1e.300 is greater than the maximum"),
])
def test_tampered_run_records_are_refused(tmp_path, tamper, problem):
    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, **tamper}))
    with pytest.raises(InvalidRun, match=problem):
        read_record(run_dir)


def test_the_index_and_sweeps_skip_folders_that_do_not_validate_with_a_warning(tmp_path):
    from digitlib.run.index import write_index
    from digitlib.run.sweep import earlier_runs

    write_run(tmp_path, "20261125-100000-good", metrics=valid_metrics())
    write_run(tmp_path, "20261125-100000-name", parameters={INJECTED_NAME: 1})
    write_run(tmp_path, "20261125-100000-metrics", metrics={**valid_metrics(), "test": {"accuracy": "<b>1</b>"}})
    write_run(tmp_path, "20261125-100000-huge", metrics=valid_metrics()).joinpath("run.json").write_bytes(b"\xff\xfe")
    write_run(tmp_path, "<img src=x onerror=alert(1)>", metrics=valid_metrics())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_runs(tmp_path)
        page = write_index(tmp_path).read_text()
        assert list(earlier_runs(tmp_path).values())[0].run_id == "20261125-100000-good"
    assert [run.run_id for run in runs] == ["20261125-100000-good"]
    assert "98.71%" in page and "1 run," in page and "<img" not in page and "<b>" not in page
    skipped = {str(w.message).split(":")[0] for w in caught if issubclass(w.category, RunDirectoryWarning)}
    assert len(skipped) == 4, skipped


def test_comparisons_read_only_runs_that_validate(tmp_path):
    from digitlib.report.comparison import load_runs

    write_run(tmp_path, "20261125-100000-good", metrics=valid_metrics(0.99))
    write_run(tmp_path, "20261125-110000-evil", metrics={**valid_metrics(), "per_class": "<script>"})
    with pytest.warns(RunDirectoryWarning, match="110000-evil"):
        runs = load_runs(tmp_path)
    assert [run.run_id for run in runs] == ["20261125-100000-good"]
    with pytest.warns(RunDirectoryWarning), pytest.raises(ValueError, match="no finished training runs"):
        load_runs([tmp_path / "20261125-110000-evil"])


def test_a_runs_identity_is_everything_that_decides_its_result():
    from digitlib.rundir import run_identity

    fast = validate_parameters(model="fast", seed=1)
    same = run_identity(fast, backend="tensorflow")
    assert same == run_identity({**fast, "data_dir": "/elsewhere"}, backend="tensorflow")  # checksummed data
    assert same == run_identity({k: v for k, v in fast.items() if k != "members"}, backend="tensorflow")  # defaults
    # a run recorded before label smoothing existed trained without it: the same run as one with its default, 0
    assert same == run_identity({k: v for k, v in fast.items() if k != "label_smoothing"}, backend="tensorflow")
    assert same != run_identity({**fast, "label_smoothing": 0.1}, backend="tensorflow")
    strong = validate_parameters(model="strong", seed=1)  # version 3 smooths by 0.1: version 2 did not
    earlier = {k: v for k, v in strong.items() if k != "label_smoothing"}
    assert run_identity(earlier, backend="tensorflow", model_version=2) == run_identity(
        {**strong, "label_smoothing": 0.0}, backend="tensorflow", model_version=2)
    assert run_identity(earlier, backend="tensorflow", model_version=2) != run_identity(strong, backend="tensorflow")
    assert same != run_identity({**fast, "seed": 2}, backend="tensorflow")
    assert same != run_identity(fast, backend="jax")
    assert same != run_identity(fast, backend="tensorflow", model_version=1)  # fast before writer variation
    assert same != run_identity(fast, notebook="compare_runs")


def test_a_run_made_before_its_notebook_was_recorded_is_a_training_run(tmp_path):
    from digitlib.params import TRAINING
    from digitlib.report.comparison import load_runs
    from digitlib.run.sweep import earlier_runs
    from digitlib.rundir import best_model, identity_of

    run_dir = write_run(tmp_path, "20261125-100000-older", metrics=valid_metrics(0.99))
    (run_dir / "model.keras").write_bytes(b"zip")
    record = json.loads((run_dir / "run.json").read_text())
    del record["notebook_name"]
    (run_dir / "run.json").write_text(json.dumps(record))
    run = read_runs(tmp_path)[0]
    assert run.notebook_name == TRAINING.name and run.contract is TRAINING
    assert list(earlier_runs(tmp_path)) == [identity_of(run)]
    assert best_model(tmp_path).run_dir == run_dir
    assert [each.run_id for each in load_runs(tmp_path)] == [run_dir.name]


def test_a_sweep_never_skips_for_a_run_of_another_backend_or_model_version(tmp_path):
    from digitlib.models import model_spec
    from digitlib.run.sweep import earlier_runs
    from digitlib.rundir import run_identity

    fast = validate_parameters(model="fast", seed=1, epochs=1)
    write_run(tmp_path, "20261125-100000-jax", parameters=fast, backend="jax", model_version=model_spec("fast").version)
    write_run(tmp_path, "20261125-100000-old", parameters=fast, model_version=model_spec("fast").version - 1)
    earlier = earlier_runs(tmp_path)
    assert run_identity(fast, backend="tensorflow") not in earlier
    assert earlier[run_identity(fast, backend="jax")].run_id == "20261125-100000-jax"


def trained_run(reports, run_id, model="fast", validation=None, *, train_limit=None, model_file=True, **record):
    """A finished training run of `model` whose last epoch scored `validation` (None: no validation split)."""
    parameters = validate_parameters(model=model, train_limit=train_limit)
    metrics = {**valid_metrics(parameters=parameters), "model": model}
    if validation is not None:
        metrics["training"]["history"]["val_accuracy"] = [0.5, 0.8, validation]
    run_dir = write_run(reports, run_id, parameters={"model": model, "train_limit": train_limit}, metrics=metrics,
                        started=f"2026-11-25T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}+00:00", **record)
    if model_file:
        (run_dir / "model.keras").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: never loaded here
    return run_dir


def test_the_ladder_ranks_every_registered_model_strongest_last():
    from digitlib.models import LADDER, capability, model_names

    assert sorted(LADDER) == sorted(model_names())
    ladder = ("seed", "keras-example", "fast-plain", "fast", "strong", "ensemble")
    assert [capability(name) for name in ladder] == [0, 1, 2, 3, 4, 5]
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert " > ".join(f"`{name}`" for name in reversed(LADDER)) in readme  # the README states the same order


def test_a_more_capable_model_beats_any_validation_accuracy_of_a_weaker_one(tmp_path):
    from digitlib.rundir import best_model

    trained_run(tmp_path, "20261125-100000-seed", "seed", 0.999)
    trained_run(tmp_path, "20261125-110000-fast", "fast", 0.995)
    strong = trained_run(tmp_path, "20261125-090000-strong", "strong", 0.98)
    best = best_model(tmp_path)
    assert (best.run_dir, best.path, best.model) == (strong, strong / "model.keras", "strong")
    assert str(best) == "strong, run 20261125-090000-strong, validation accuracy 98.00%"
    trained_run(tmp_path, "20261125-080000-ensemble", "ensemble", 0.97)
    assert best_model(tmp_path).model == "ensemble"


def test_within_a_model_the_best_validation_accuracy_wins_then_the_newest_run(tmp_path):
    from digitlib.rundir import best_model

    trained_run(tmp_path, "20261125-100000-lower", "fast", 0.991)
    trained_run(tmp_path, "20261125-110000-tied", "fast", 0.993)
    trained_run(tmp_path, "20261125-120000-unsplit", "fast")  # no validation split: below any with one
    trained_run(tmp_path, "20261125-090000-tied", "fast", 0.993)
    assert best_model(tmp_path).run_dir.name == "20261125-110000-tied"
    only_unsplit = tmp_path / "unsplit"
    trained_run(only_unsplit, "20261125-100000-old", "seed")
    trained_run(only_unsplit, "20261125-110000-new", "seed")
    best = best_model(only_unsplit)
    assert (best.run_dir.name, best.validation_accuracy) == ("20261125-110000-new", None)
    assert str(best) == ("seed, run 20261125-110000-new, no validation accuracy "
                         "(it trained without a validation split)")


def test_runs_that_cannot_be_the_default_model_are_passed_over(tmp_path):
    from digitlib.rundir import best_model

    trained_run(tmp_path, "20261125-100000-partial", "ensemble", 0.999, train_limit=5000)
    trained_run(tmp_path, "20261125-100000-failed", "strong", 0.999, status="failed")
    trained_run(tmp_path, "20261125-100000-running", "strong", 0.999, status="running", pid=None)
    trained_run(tmp_path, "20261125-100000-nomodel", "strong", 0.999, model_file=False)
    outside = tmp_path.parent / "elsewhere.keras"
    outside.write_bytes(b"PK")
    trained_run(tmp_path, "20261125-100000-linked", "strong", 0.999, model_file=False).joinpath(
        "model.keras").symlink_to(outside)  # a model file outside the reports folder is not the run's
    write_run(tmp_path, "20261125-100000-predicts", notebook_name="predict_your_digits",
              parameters={"images": "x.png"}).joinpath("model.keras").write_bytes(b"PK")  # not a training run
    trained_run(tmp_path, "20261125-080000-fast", "fast", 0.99)
    assert best_model(tmp_path).run_dir.name == "20261125-080000-fast"


def test_with_no_finished_model_the_error_says_why_none_qualified(tmp_path):
    from digitlib.rundir import NoFinishedModel, best_model

    with pytest.raises(NoFinishedModel, match=f"^no finished training run in {tmp_path}$"):
        best_model(tmp_path)
    trained_run(tmp_path, "20261125-100000-quick", "fast", 0.9, train_limit=3000)
    trained_run(tmp_path, "20261125-110000-quick", "strong", 0.9, train_limit=3000)
    trained_run(tmp_path, "20261125-120000-bare", "fast", 0.9, model_file=False)
    with pytest.raises(NoFinishedModel) as none:
        best_model(tmp_path)
    assert str(none.value) == (f"no finished model to read with in {tmp_path}: of its 3 finished training runs, "
                               "2 trained on part of the training set (train_limit), 1 without a model.keras "
                               "of its own")


@pytest.mark.parametrize("tamper, problem", [
    (lambda run, metrics: metrics.update(parameters={**metrics["parameters"], "model": "seed"}),
     "metrics.json holds invalid parameters: parameter 'members' applies only to model 'ensemble', not 'seed'"),
    (lambda run, metrics: metrics.update(parameters={**metrics["parameters"], "model": "strong", "members": None}),
     "metrics.json and run.json name different models or training sets"),
    (lambda run, metrics: metrics.update(parameters={**metrics["parameters"], "train_limit": 100}),
     "metrics.json and run.json name different models or training sets"),
    (lambda run, metrics: metrics["training"]["history"].update(val_accuracy=[1.5]),
     "metrics.json does not match its schema at training/history/val_accuracy/0: 1.5 is greater than the maximum"),
    (lambda run, metrics: run["parameters"].update(model="<script>"), "unknown model"),
])
def test_a_tampered_run_is_never_the_best_and_is_skipped_with_a_warning(tmp_path, tamper, problem):
    from digitlib.rundir import best_model

    trained_run(tmp_path, "20261125-080000-fast", "fast", 0.99)
    run_dir = trained_run(tmp_path, "20261125-090000-tampered", "ensemble", 0.999)
    run, metrics = (json.loads((run_dir / name).read_text()) for name in ("run.json", "metrics.json"))
    tamper(run, metrics)
    for name, value in (("run.json", run), ("metrics.json", metrics)):
        (run_dir / name).write_text(json.dumps(value))
    with pytest.warns(RunDirectoryWarning, match=f"skipping {run_dir}: .*{re.escape(problem)}"):
        assert best_model(tmp_path).run_dir.name == "20261125-080000-fast"


def test_best_is_a_link_not_a_run_and_a_folder_of_that_name_is_skipped(tmp_path):
    trained_run(tmp_path, "20261125-100000-aaaa", "fast", 0.99)
    (tmp_path / "best").symlink_to("20261125-100000-aaaa")
    with pytest.raises(ParameterError, match="is a link to a run"):
        run_directory(tmp_path, "best")
    assert [run.run_id for run in read_runs(tmp_path)] == ["20261125-100000-aaaa"]
    (tmp_path / "best").unlink()
    trained_run(tmp_path, "best", "ensemble", 0.999)  # a folder named like the link, dropped in by hand
    with pytest.warns(RunDirectoryWarning, match="best: this name is kept for the reports folder's link to the best"):
        assert [run.run_id for run in read_runs(tmp_path)] == ["20261125-100000-aaaa"]


@pytest.mark.parametrize("name", ["latest", "best", "index.html", "INDEX.HTML", "Latest"])
def test_the_names_the_reports_folder_keeps_are_never_run_ids(tmp_path, name):
    (tmp_path / name).mkdir()  # a folder dropped in by hand, not the link or the page digitlib keeps there
    with pytest.raises(ParameterError, match=f"{re.escape(repr(name))} is kept for the reports folder's "):
        run_directory(tmp_path, name)


def test_the_names_the_reports_folder_keeps_are_defined_once_with_its_other_names():
    from digitlib import layout, rundir
    from digitlib.run import index

    assert layout.KEPT == {"index.html": "index page", "latest": "link to the latest successful run",
                           "best": "link to the best finished model"}
    assert layout.kept_for("LATEST") == "link to the latest successful run" and layout.kept_for("run-1") is None
    assert index.KEPT is layout.KEPT and rundir.kept_for is layout.kept_for
    assert not hasattr(rundir, "KEPT")  # one door: the names come from layout, never re-exported
    assert not hasattr(layout, "LINKS") and not hasattr(rundir, "LINKS")  # named nowhere else: KEPT says it


def metrics_text(**tampered) -> str:
    """valid_metrics() as JSON, with each NAME=TEXT's number replaced by TEXT as written (NaN, 1e999)."""
    text = json.dumps(valid_metrics())
    for name, value in tampered.items():
        text = re.sub(rf'"{name}": [0-9.e-]+', f'"{name}": {value}', text, count=1)
    return text


@pytest.mark.parametrize("field, value, where", [("accuracy", "NaN", "test/accuracy"),
                                                 ("accuracy", "-Infinity", "test/accuracy"),
                                                 ("train_seconds", "1e999", "training/train_seconds")])
def test_json_numbers_that_are_not_finite_are_refused_where_a_number_is_required(tmp_path, field, value, where):
    """Python's json reads NaN and Infinity, which no schema bound refuses (NaN < 0 and NaN > 1 are both false): they
    read as null, which the schema refuses where a comparison needs a number."""
    from digitlib.rundir import read_metrics

    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    (run_dir / "metrics.json").write_text(metrics_text(**{field: value}))
    assert f'"{field}": {value}' in (run_dir / "metrics.json").read_text()
    with pytest.raises(InvalidRun, match=f"metrics.json does not match its schema at {where}: None is not of type"):
        read_metrics(run_dir)


def test_a_diverged_run_written_by_an_earlier_version_reads_back_as_diverged(tmp_path):
    """Earlier versions wrote a diverged epoch's loss as Python's json does, NaN or Infinity (a test loss of 1e999
    overflows alike): it reads as a run written now reads, history NaN, test loss None. Refused, such a run vanished
    from the index, the best model and comparisons, and a sweep trained it again."""
    from digitlib.report.diagnosis import diagnose_metrics
    from digitlib.run.index import write_index
    from digitlib.run.sweep import earlier_runs
    from digitlib.rundir import identity_of, read_metrics

    metrics = valid_metrics()
    metrics["training"]["history"].update(loss=[2.3, math.nan, math.inf], val_loss=[-math.inf] * 3)
    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    (run_dir / "metrics.json").write_text(json.dumps(metrics).replace('"loss": 0.05', '"loss": 1e999'))
    text = (run_dir / "metrics.json").read_text()
    assert '[2.3, NaN, Infinity]' in text and '"loss": 1e999' in text
    back = read_metrics(run_dir)
    history = back["training"]["history"]
    assert history["loss"][0] == 2.3 and math.isnan(history["loss"][1]) and math.isnan(history["loss"][2])
    assert all(math.isnan(value) for value in history["val_loss"]) and back["test"]["loss"] is None
    assert diagnose_metrics(back).startswith("training diverged: the loss became nan at epoch 2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_runs(tmp_path)
        page = write_index(tmp_path).read_text()
        done = earlier_runs(tmp_path)
    assert [str(warning.message) for warning in caught if issubclass(warning.category, RunDirectoryWarning)] == []
    assert [run.run_id for run in runs] == ["20261125-100000-aaaa"]
    assert "98.71%" in page and "1 run," in page and "nan%" not in page.lower()
    assert list(done) == [identity_of(runs[0])]  # a sweep skips it


@pytest.mark.parametrize("tamper, problem", [
    (lambda m: m["parameters"].update(model={"name": "seed"}), "parameters/model"),
    (lambda m: m["parameters"].update(model="<script>"), "parameter 'model'='<script>' unknown model"),
    (lambda m: m["parameters"].update(epochs="3"), "parameters/epochs"),
    (lambda m: m["parameters"].update(seed=2**40), "parameter 'seed'"),
    (lambda m: m["parameters"].update(surprise=1), "unknown parameter"),
    (lambda m: m["test"].update(images=10**12), "test/images"),
    (lambda m: m["training"]["history"].update(val_accuracy=[0.5, 7.0]), "val_accuracy/1"),
    (lambda m: m["environment"]["device"].update(name={"gpu": 1}), "environment/device/name"),
    (lambda m: m["test"].update(images=100.0), "test/images: 100.0 is not of type 'integer'"),  # "integer" took it
    (lambda m: m["training"].update(epochs=3.0), "training/epochs: 3.0 is not of type 'integer'"),
    (lambda m: m["training"].update(train_seconds=1e300), "training/train_seconds: 1e+300 is greater than the max"),
    (lambda m: m["training"].update(train_images=10**12), "training/train_images"),
    (lambda m: m.update(calibration={**CALIBRATION, "temperature": 1e300}), "calibration/temperature"),
    (lambda m: m.update(robustness={**ROBUSTNESS, "severity": 10**9}), "robustness/severity: 1000000000 is greater"),
    (lambda m: m.update(robustness={**ROBUSTNESS, "severity": 3.0}), "robustness/severity: 3.0 is not of type"),
    (lambda m: m.update(robustness={**ROBUSTNESS, "images": 10**6}), "robustness/images"),
])
def test_metrics_that_pass_the_schema_are_what_comparisons_can_use(tmp_path, tamper, problem):
    from digitlib.rundir import read_metrics

    metrics = valid_metrics()
    tamper(metrics)
    run_dir = write_run(tmp_path, "20261125-100000-aaaa", metrics=metrics)
    with pytest.raises(InvalidRun, match=re.escape(problem)):
        read_metrics(run_dir)


CALIBRATION = {"ece": 0.012, "nll": 0.03, "brier": 0.02, "bins": 15, "temperature": 1.3, "ece_after_temperature": 0.004}
ROBUSTNESS = {"images": 1000, "seed": 0, "severity": 2, "clean_accuracy": 0.99, "accuracy": {"rotation": 0.9},
              "mean_accuracy": 0.9}


def test_the_calibration_and_robustness_these_tests_tamper_with_are_valid(tmp_path):
    from digitlib.rundir import read_metrics

    run_dir = write_run(tmp_path, "20261125-100000-aaaa", metrics={**valid_metrics(), "calibration": CALIBRATION,
                                                                    "robustness": ROBUSTNESS})
    assert read_metrics(run_dir)["robustness"]["severity"] == 2


@pytest.mark.parametrize("field, text", [
    ("train_seconds", "1" + "0" * 400),  # too large to convert to a float: any arithmetic with one fails
    ("model_parameters", str(2**53 + 1)),  # a float reads it as 2**53
    ("mistakes", "-" + "9" * 5000),  # beyond the 4,300 digits Python converts at all
])
def test_an_integer_beyond_what_a_float_holds_exactly_is_refused_when_read(tmp_path, field, text):
    """Python's json reads 1 and 400 zeros as an int, which the schema's "number" and "minimum" take: its first use
    with a float (a format, a log scale, an interval) raised OverflowError, and the index failed with it."""
    from digitlib.rundir import read_metrics

    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    (run_dir / "metrics.json").write_text(metrics_text(**{field: text}))
    with pytest.warns(RunDirectoryWarning) as caught:
        assert read_runs(tmp_path) == []
    shown = text[:24] + "…" * (len(text) > 24)
    assert [str(warning.message) for warning in caught] == [
        f"skipping {run_dir}: metrics.json holds the integer {shown} ({len(text.lstrip('-')):,} digits), beyond "
        "±2**53: no float holds it exactly"]
    (run_dir / "metrics.json").write_text(metrics_text(model_parameters=str(2**53)))
    assert read_metrics(run_dir)["training"]["model_parameters"] == 2**53  # the largest it holds exactly reads


def test_a_float_is_no_integer_in_an_ensemble_members_file_either(tmp_path):
    from digitlib.rundir import read_json

    member = {"model": "strong", "parameters": {"seed": 1, "epochs": 2, "batch_size": 32, "learning_rate": 0.001,
                                               "schedule": "constant", "validation_split": 0.1},
              "training": {"history": {"loss": [0.1, 0.05]}, "epoch_seconds": [1.5, 1.4], "train_images": 54000,
                           "validation_images": 6000}, "data": {"sha256": {"a.gz": "0" * 64}}}
    path = tmp_path / "member.json"
    path.write_text(json.dumps(member))
    assert read_json(path, "member.schema.json") == member
    for part, value, where in (("train_images", 54000.0, "training/train_images: 54000.0 is not of type 'integer'"),
                               ("epoch_seconds", [1e300], "training/epoch_seconds/0: 1e+300 is greater")):
        path.write_text(json.dumps({**member, "training": {**member["training"], part: value}}))
        with pytest.raises(InvalidRun, match=re.escape(f"member.json does not match its schema at {where}")):
            read_json(path, "member.schema.json")


def test_a_diverged_runs_metrics_are_written_as_json_and_read_back_as_diverged(tmp_path):
    """Keras records a diverged epoch's loss as NaN, which JSON cannot hold: it is written as null, which the schema
    allows there (and only where a diverged network leaves one), and read back as NaN, which the diagnosis names."""
    from digitlib.atomic import write_json
    from digitlib.report.diagnosis import diagnose_metrics
    from digitlib.rundir import read_metrics

    metrics = valid_metrics()
    metrics["training"]["history"].update(loss=[2.3, math.nan, math.inf], val_loss=[math.nan] * 3)
    metrics["test"]["loss"] = math.nan
    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    write_json(run_dir / "metrics.json", metrics)
    text = (run_dir / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text and '"loss": null' in text
    back = read_metrics(run_dir)
    assert back["training"]["history"]["loss"][0] == 2.3 and math.isnan(back["training"]["history"]["loss"][2])
    assert back["test"]["loss"] is None
    assert diagnose_metrics(back).startswith("training diverged: the loss became nan at epoch 2")
    metrics["test"]["accuracy"] = math.nan  # never null where a comparison needs a number
    write_json(run_dir / "metrics.json", metrics)
    with pytest.raises(InvalidRun, match="does not match its schema at test/accuracy: None is not of type 'number'"):
        read_metrics(run_dir)
