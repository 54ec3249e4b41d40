"""The ensemble: members are exactly `strong` runs of consecutive seeds, and none is trained twice."""

import io
import json
import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest

import digitlib
import digitlib.modelfile
from digitlib import (
    build_model,
    describe_environment,
    evaluate_members,
    evaluate_model,
    fit_model,
    members_table,
    predict_probabilities,
    prepare_splits,
    run_metrics,
    set_reproducible,
    train_network,
)
from digitlib.models import ensemble_members
from digitlib.params import ParameterError, recipe, validate_parameters
from digitlib.train.ensemble import _combined, _load_member, _record_of, find_trained_member, member_record

SCHEMA = json.loads((Path(digitlib.__file__).parent / "metrics.schema.json").read_text())
QUICK = {"epochs": 1, "batch_size": 128, "learning_rate": 0.003, "schedule": "one-cycle", "label_smoothing": 0.1}


@pytest.fixture(scope="module")
def tiny(mnist):
    """400 training images (10% held out, as the strong recipe does) and 200 test images."""
    return prepare_splits(mnist, validation_split=0.1, seed=0, train_limit=400, test_limit=200)


@pytest.mark.jax
@pytest.mark.e2e  # builds three strong networks
def test_an_ensemble_averages_strong_members():
    ensemble = build_model("ensemble", members=2)
    members = ensemble_members(ensemble)
    assert len(members) == 2 and all(m.count_params() == build_model("strong").count_params() for m in members)
    assert ensemble_members(build_model("strong")) == []
    assert len(ensemble_members(build_model("ensemble"))) == 3  # the recipe's size


def test_members_is_a_parameter_of_ensembles_only():
    assert validate_parameters(model="ensemble")["members"] == 3
    assert validate_parameters(model="ensemble", members=5)["members"] == 5
    assert validate_parameters(model="fast")["members"] is None
    with pytest.raises(ParameterError, match="'members' applies only to model 'ensemble'"):
        validate_parameters(model="strong", members=3)
    with pytest.raises(ParameterError, match="at least 2"):
        validate_parameters(model="ensemble", members=1)
    assert "members" not in recipe(validate_parameters(model="ensemble"))


def test_resplit_holds_out_what_prepare_splits_holds_out_for_that_seed(mnist, tiny):
    direct = prepare_splits(mnist, validation_split=0.1, seed=3, train_limit=400, test_limit=200)
    resplit = tiny.resplit(3)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(resplit, name), getattr(direct, name))
    assert not np.array_equal(tiny.y_val, resplit.y_val)


def _strong_run(mnist, reports, seed):
    """What `digitlib report -p model strong -p seed SEED` leaves behind, trained on the tiny slice."""
    from digitlib import save_results

    parameters = validate_parameters(model="strong", seed=seed, train_limit=400, test_limit=200, **QUICK)
    reproducibility = set_reproducible(seed)
    splits = prepare_splits(mnist, validation_split=0.1, seed=seed, train_limit=400, test_limit=200)
    model = build_model("strong")
    training = fit_model(model, splits, **recipe(parameters), seed=seed, stream=io.StringIO())
    metrics = run_metrics(parameters=parameters, data=mnist, splits=splits, model=model, training=training,
                          evaluation=evaluate_model(model, splits.x_test, splits.y_test),
                          reproducibility=reproducibility, environment=describe_environment())
    save_results(reports / f"strong-seed-{seed}", model, metrics)
    return model


@pytest.fixture(scope="module")
def strong_seed_8(mnist, tmp_path_factory):
    """A finished strong run of seed 8 on the tiny slice, trained once for this module: (folder, model)."""
    reports = tmp_path_factory.mktemp("strong")
    return reports / "strong-seed-8", _strong_run(mnist, reports, seed=8)


def _reports_with(run: Path, tmp_path: Path) -> Path:
    """A reports folder of this test's own, holding a copy of the finished `run`."""
    shutil.copytree(run, tmp_path / "reports" / run.name)
    return tmp_path / "reports"


@pytest.mark.e2e
def test_members_are_strong_runs_and_none_is_trained_twice(mnist, tiny, tmp_path, strong_seed_8):
    reports = _reports_with(strong_seed_8[0], tmp_path)
    strong = strong_seed_8[1]  # a finished strong run beside the ensembles

    first, log = build_model("ensemble", members=2), io.StringIO()
    result = train_network(first, tiny, **QUICK, seed=7, checkpoint_dir=reports / "first", finished_runs=reports,
                           stream=log)
    assert "member 1/2 (seed 7): training" in log.getvalue()
    assert "member 2/2 (seed 8): already trained, loaded from strong-seed-8" in log.getvalue()
    assert [m["source"] for m in result.members] == ["trained", "strong-seed-8"]
    # The member loaded is the strong run's network, weight for weight.
    np.testing.assert_array_equal(predict_probabilities(ensemble_members(first)[1], tiny.x_test),
                                  predict_probabilities(strong, tiny.x_test))
    finished = json.loads((reports / "first" / "members" / "seed-7" / "member.json").read_text())
    assert finished["model"] == "strong" and finished["parameters"]["seed"] == 7

    # A member trained inside an ensemble is what a strong run of its seed trains (same process, same CPU).
    alone = _strong_run(mnist, tmp_path / "elsewhere", seed=7)
    np.testing.assert_array_equal(predict_probabilities(ensemble_members(first)[0], tiny.x_test),
                                  predict_probabilities(alone, tiny.x_test))

    # A bigger ensemble of the same seed trains only its new member.
    second, log = build_model("ensemble", members=3), io.StringIO()
    result = train_network(second, tiny, **QUICK, seed=7, checkpoint_dir=reports / "second", finished_runs=reports,
                           stream=log)
    assert log.getvalue().count(": training") == 1 and "member 3/3 (seed 9): training" in log.getvalue()
    assert [m["source"] for m in result.members] == ["first/members/seed-7", "strong-seed-8", "trained"]
    assert len(result.history["loss"]) == 1
    assert result.train_seconds == pytest.approx(sum(m["train_seconds"] for m in result.members))
    averaged = np.mean([predict_probabilities(m, tiny.x_test) for m in ensemble_members(second)], axis=0)
    np.testing.assert_allclose(predict_probabilities(second, tiny.x_test), averaged, rtol=1e-5, atol=1e-6)

    # The report's members section and metrics.json: each member's own test accuracy beside the average's.
    ensemble = evaluate_model(second, tiny.x_test, tiny.y_test)
    members = evaluate_members(second, tiny.x_test, tiny.y_test)
    table = members_table(result, members, ensemble).data
    assert list(table.index) == ["seed 7", "seed 8", "seed 9", "ensemble (average)"]
    assert table.loc["seed 8", "trained"] == "strong-seed-8"
    metrics = run_metrics(parameters=validate_parameters(model="ensemble", seed=7, **QUICK), data=mnist,
                          splits=tiny, model=second, training=result, evaluation=ensemble,
                          reproducibility=set_reproducible(7), environment={}, member_evaluations=members)
    assert [m["test_accuracy"] for m in metrics["training"]["members"]] == [e.accuracy for e in members]
    jsonschema.validate(metrics["training"], SCHEMA["properties"]["training"])


def test_other_models_have_no_members_section(trained, small_splits):
    model, training = trained
    evaluation = evaluate_model(model, small_splits.x_test, small_splits.y_test)
    assert evaluate_members(model, small_splits.x_test, small_splits.y_test) == []
    assert members_table(training, [], evaluation) is None


@pytest.mark.e2e
def test_a_member_with_another_recipe_or_data_is_not_reused(mnist, tiny, tmp_path, strong_seed_8):
    reports = _reports_with(strong_seed_8[0], tmp_path)
    same = member_record(tiny, QUICK, seed=8)
    assert find_trained_member(reports, same).directory == reports / "strong-seed-8"
    assert find_trained_member(reports, member_record(tiny, {**QUICK, "epochs": 2}, seed=8)) is None
    assert find_trained_member(reports, member_record(tiny, QUICK, seed=9)) is None
    other_data = prepare_splits(mnist, validation_split=0.1, seed=0, train_limit=500, test_limit=200)
    assert find_trained_member(reports, member_record(other_data, QUICK, seed=8)) is None


@pytest.mark.e2e
def test_a_run_folder_linked_in_from_elsewhere_is_not_reused_as_a_member(tiny, tmp_path, strong_seed_8):
    """read_runs skips a linked run folder; the ensemble's search for members did not, and loaded its model."""
    elsewhere = _reports_with(strong_seed_8[0], tmp_path / "elsewhere")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "20261205-000000-deadbeef").symlink_to(elsewhere / "strong-seed-8", target_is_directory=True)
    assert find_trained_member(elsewhere, member_record(tiny, QUICK, seed=8)) is not None  # it is a match
    assert find_trained_member(reports, member_record(tiny, QUICK, seed=8)) is None


@pytest.mark.e2e
def test_a_tampered_finished_run_is_not_reused_as_a_member(mnist, tiny, tmp_path, strong_seed_8):
    from digitlib.rundir import RunDirectoryWarning

    reports = _reports_with(strong_seed_8[0], tmp_path)
    metrics_path = reports / "strong-seed-8" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["training"]["epoch_seconds"] = "<script>alert(1)</script>"  # matches the record, breaks the schema
    metrics_path.write_text(json.dumps(metrics))
    with pytest.warns(RunDirectoryWarning, match="does not match its schema at training/epoch_seconds"):
        assert find_trained_member(reports, member_record(tiny, QUICK, seed=8)) is None


@pytest.mark.e2e
@pytest.mark.full  # make test: a run resumes inside fit_model exactly (test_checkpoint, test_trustworthy)
def test_an_interrupted_ensemble_resumes_inside_the_member_it_was_training(tiny, tmp_path):
    import keras

    class StopInSecondMember(keras.callbacks.Callback):
        """Raises as the second member starts its second epoch: its first is checkpointed."""

        calls = 0

        def on_epoch_begin(self, epoch, logs=None):
            StopInSecondMember.calls += 1
            if StopInSecondMember.calls == 4:
                raise KeyboardInterrupt

    settings = {**QUICK, "epochs": 2, "seed": 3}
    with pytest.raises(KeyboardInterrupt):
        train_network(build_model("ensemble", members=2), tiny, **settings,
                      checkpoint_dir=tmp_path / "reports" / "run", callbacks=[StopInSecondMember()],
                      stream=io.StringIO())
    assert not (tmp_path / "reports" / "run" / "members" / "seed-4" / "member.json").exists()

    resumed, log = build_model("ensemble", members=2), io.StringIO()
    train_network(resumed, tiny, **settings, checkpoint_dir=tmp_path / "reports" / "run", stream=log)
    assert "member 1/2 (seed 3): already trained, loaded from this run" in log.getvalue()
    assert "resuming after epoch 1/2" in log.getvalue()

    uninterrupted = build_model("ensemble", members=2)
    train_network(uninterrupted, tiny, **settings, checkpoint_dir=tmp_path / "elsewhere" / "run",
                  stream=io.StringIO())
    np.testing.assert_array_equal(predict_probabilities(resumed, tiny.x_test),
                                  predict_probabilities(uninterrupted, tiny.x_test))


def _finished_member(folder: Path, history: dict, recipe: dict = QUICK) -> dict:
    """A member.json as _save_member writes it (NaN as null), beside a stand-in model.keras; its record."""
    from digitlib.atomic import write_json

    finished = {"model": "strong", "model_version": 2, "backend": "tensorflow",
                "parameters": {"seed": 8, **recipe, "validation_split": 0.1},
                "training": {"history": history, "epoch_seconds": [1.5] * len(history["loss"]),
                             "train_images": 360, "validation_images": 40},
                "data": {"sha256": {"a.gz": "0" * 64}}}
    folder.mkdir(parents=True)
    write_json(folder / "member.json", finished)
    (folder / "model.keras").write_bytes(b"a stand-in")
    return _record_of(finished)


def test_a_member_recorded_before_label_smoothing_existed_is_one_trained_without_it(tmp_path):
    """An older member.json has no label_smoothing: it trained with 0, as every run before the knob, so it serves a
    recipe without smoothing (member_record fills 0 in for a recipe that leaves it out too) and never one with it."""
    own = tmp_path / "run" / "members" / "seed-8"
    without = {name: value for name, value in QUICK.items() if name != "label_smoothing"}  # a recipe from before it
    found = _finished_member(own, {"loss": [2.3, 0.5]}, recipe=without)
    assert "label_smoothing" not in json.loads((own / "member.json").read_text())["parameters"]
    splits = SimpleNamespace(validation_split=0.1, x_train=np.zeros((360, 1)), x_val=np.zeros((40, 1)),
                             data_sha256={"a.gz": "0" * 64})
    wanted = {**member_record(splits, without, 8), "backend": "tensorflow", "model_version": 2}
    assert wanted == found and wanted["label_smoothing"] == 0.0
    assert find_trained_member(None, wanted, first=own).directory == own
    assert find_trained_member(None, {**wanted, "label_smoothing": 0.1}, first=own) is None


def test_a_diverged_members_loss_reads_back_as_nan_and_the_ensemble_averages_it(tmp_path, monkeypatch):
    """member.json holds a diverged epoch's NaN as null: loaded, it is NaN again, which np.mean averages (None was a
    TypeError in the ensemble's history)."""
    import digitlib.predict.predictions

    monkeypatch.setattr(digitlib.modelfile, "load_trained_model", lambda path: f"the model in {path.parent.name}")
    own = tmp_path / "run" / "members" / "seed-8"
    wanted = _finished_member(own, {"loss": [2.3, math.nan], "val_accuracy": [0.5, math.nan]})
    assert '"loss": [\n        2.3,\n        null\n' in (own / "member.json").read_text()
    model, training = _load_member(find_trained_member(None, wanted, first=own))
    assert model == "the model in seed-8"
    assert training.history["loss"][0] == 2.3 and math.isnan(training.history["loss"][1])
    combined = _combined([training, training], [{}, {}])
    assert combined.history["val_accuracy"][0] == 0.5 and math.isnan(combined.history["val_accuracy"][1])


@pytest.mark.timeout(20)  # a regression waits on the FIFO: it fails here instead of hanging the suite
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_member_is_loaded_from_the_file_it_was_found_by_never_another(tmp_path, monkeypatch):
    """A strong run is found by its metrics.json; a FIFO member.json beside it is never opened (it would block the
    training forever)."""
    import digitlib.predict.predictions
    from test_rundir import valid_metrics

    monkeypatch.setattr(digitlib.modelfile, "load_trained_model", lambda path: "a model")
    run = tmp_path / "reports" / "strong-seed-8"
    run.mkdir(parents=True)
    metrics = valid_metrics(parameters=validate_parameters(model="strong", seed=8, **QUICK))
    metrics["model"] = "strong"
    metrics["training"]["history"]["loss"] = [0.3, None, 0.1]
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "model.keras").write_bytes(b"a stand-in")
    os.mkfifo(run / "member.json")
    found = find_trained_member(tmp_path / "reports", _record_of(metrics))
    model, training = _load_member(found)
    assert model == "a model" and math.isnan(training.history["loss"][1])
    assert training.epoch_seconds == metrics["training"]["epoch_seconds"]


@pytest.mark.timeout(20)  # a regression waits on the FIFO: it fails here instead of hanging the suite
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("model_file, refused", [("fifo", "not a regular file"), ("text", "not a zip archive")])
def test_a_members_model_file_is_checked_as_any_model_and_a_refused_one_is_trained_again(tmp_path, model_file,
                                                                                           refused):
    """A member's model.keras is read as `digitlib predict` reads a model (a regular file, a zip archive that is no
    zip bomb, Keras' safe mode): one refused is named in a warning and the member is trained instead."""
    from digitlib.rundir import RunDirectoryWarning

    own = tmp_path / "run" / "members" / "seed-8"
    wanted = _finished_member(own, {"loss": [2.3, 0.5]})
    if model_file == "fifo":
        (own / "model.keras").unlink()
        os.mkfifo(own / "model.keras")
    with pytest.warns(RunDirectoryWarning, match=f"skipping {own}: {own}/model.keras: .*{refused}"):
        assert _load_member(find_trained_member(None, wanted, first=own)) is None
