"""Reading run directories back as untrusted data: names, schemas, parameters, the notebook chosen by name."""

import json
import warnings

import pytest

from digitlib.params import ParameterError, validate_parameters
from digitlib.rundir import InvalidRun, RunDirectoryWarning, read_record, read_runs, run_directory

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
])
def test_tampered_run_records_are_refused(tmp_path, tamper, problem):
    run_dir = write_run(tmp_path, "20261125-100000-aaaa")
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, **tamper}))
    with pytest.raises(InvalidRun, match=problem):
        read_record(run_dir)


def test_the_index_and_sweeps_skip_folders_that_do_not_validate_with_a_warning(tmp_path):
    from digitlib.index import write_index
    from digitlib.sweep import earlier_runs

    write_run(tmp_path, "20261125-100000-good", metrics=valid_metrics())
    write_run(tmp_path, "20261125-100000-name", parameters={INJECTED_NAME: 1})
    write_run(tmp_path, "20261125-100000-metrics", metrics={**valid_metrics(), "test": {"accuracy": "<b>1</b>"}})
    write_run(tmp_path, "20261125-100000-huge", metrics=valid_metrics()).joinpath("run.json").write_bytes(b"\xff\xfe")
    write_run(tmp_path, "<img src=x onerror=alert(1)>", metrics=valid_metrics())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_runs(tmp_path)
        page = write_index(tmp_path).read_text()
        assert list(earlier_runs(tmp_path).values())[0]["run_id"] == "20261125-100000-good"
    assert [run["run_id"] for run in runs] == ["20261125-100000-good"]
    assert "98.71%" in page and "1 run," in page and "<img" not in page and "<b>" not in page
    skipped = {str(w.message).split(":")[0] for w in caught if issubclass(w.category, RunDirectoryWarning)}
    assert len(skipped) == 4, skipped


def test_comparisons_read_only_runs_that_validate(tmp_path):
    from digitlib.comparison import load_runs

    write_run(tmp_path, "20261125-100000-good", metrics=valid_metrics(0.99))
    write_run(tmp_path, "20261125-110000-evil", metrics={**valid_metrics(), "per_class": "<script>"})
    with pytest.warns(RunDirectoryWarning, match="110000-evil"):
        runs = load_runs(tmp_path)
    assert [run["run_id"] for run in runs] == ["20261125-100000-good"]
    with pytest.warns(RunDirectoryWarning), pytest.raises(ValueError, match="no finished training runs"):
        load_runs([tmp_path / "20261125-110000-evil"])


def test_a_runs_identity_is_everything_that_decides_its_result():
    from digitlib.rundir import run_identity

    fast = validate_parameters(model="fast", seed=1)
    same = run_identity(fast, backend="tensorflow")
    assert same == run_identity({**fast, "data_dir": "/elsewhere"}, backend="tensorflow")  # checksummed data
    assert same == run_identity({k: v for k, v in fast.items() if k != "members"}, backend="tensorflow")  # defaults
    assert same != run_identity({**fast, "seed": 2}, backend="tensorflow")
    assert same != run_identity(fast, backend="jax")
    assert same != run_identity(fast, backend="tensorflow", model_version=2)
    assert same != run_identity(fast, notebook="compare_runs")


def test_a_sweep_never_skips_for_a_run_of_another_backend_or_model_version(tmp_path):
    from digitlib.rundir import run_identity
    from digitlib.sweep import earlier_runs

    fast = validate_parameters(model="fast", seed=1, epochs=1)
    write_run(tmp_path, "20261125-100000-jax", parameters=fast, backend="jax")
    write_run(tmp_path, "20261125-100000-old", parameters=fast, model_version=2)
    earlier = earlier_runs(tmp_path)
    assert run_identity(fast, backend="tensorflow") not in earlier
    assert earlier[run_identity(fast, backend="jax")]["run_id"] == "20261125-100000-jax"
