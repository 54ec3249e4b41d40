"""Choosing the Keras backend, the environment a kernel starts in, and models that cross backends."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import digitlib_cli, missing
from digitlib.backends import (
    BACKENDS,
    choose_backend,
    configured_backend,
    gpu_defaults,
    keep_freed_memory,
    kernel_environment,
    native_log_defaults,
)
from digitlib.params import ParameterError
from digitlib.rundir import run_identity

SAMPLES = Path(__file__).resolve().parent.parent / "notebooks" / "samples"
TINY = ["-p", "train_limit", "500", "-p", "test_limit", "100", "-p", "epochs", "1"]


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A ~/.keras of the test's own, and no $KERAS_BACKEND: what Keras would pick is up to the test."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return tmp_path / "keras-home"


def test_the_flag_wins_then_keras_backend_then_keras_json_then_tensorflow(keras_home, monkeypatch):
    assert choose_backend() == "tensorflow"
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert choose_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert choose_backend() == "tensorflow"
    assert choose_backend("jax") == "jax"


def test_unknown_backends_are_refused_saying_where_they_came_from(keras_home, monkeypatch):
    with pytest.raises(ParameterError, match=r"unknown Keras backend 'torch'; choose one of: tensorflow, jax"):
        choose_backend("torch")
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    with pytest.raises(ParameterError, match=r"'numpy' \(from \$KERAS_BACKEND or ~/.keras/keras.json\)"):
        choose_backend()


def test_a_kernel_gets_its_backend_gpu_memory_on_demand_deterministic_xla_quiet_native_logs_and_sleeping_openmp(
        monkeypatch):
    for name in ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "TF_CPP_MIN_LOG_LEVEL", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    assert kernel_environment("jax") == {"KERAS_BACKEND": "jax", "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                                         "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                                         "XLA_FLAGS": "--xla_gpu_deterministic_ops=true", "TF_CPP_MIN_LOG_LEVEL": "3",
                                         "OMP_WAIT_POLICY": "PASSIVE"}
    assert gpu_defaults({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's own wins


def test_tensorflows_native_log_level_the_user_set_is_kept():
    assert native_log_defaults({}) == {"TF_CPP_MIN_LOG_LEVEL": "3"}
    assert native_log_defaults({"TF_CPP_MIN_LOG_LEVEL": "0"}) == {"TF_CPP_MIN_LOG_LEVEL": "0"}
    assert gpu_defaults({"TF_CPP_MIN_LOG_LEVEL": "1"})["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_what_the_user_set_for_the_gpu_is_kept():
    chosen = {"XLA_PYTHON_CLIENT_PREALLOCATE": "true", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    values = gpu_defaults(chosen)
    assert values["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"
    assert values["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true"
    assert gpu_defaults({"XLA_FLAGS": "--xla_gpu_deterministic_ops=false"})["XLA_FLAGS"] == \
        "--xla_gpu_deterministic_ops=false"


def test_the_backend_is_part_of_a_runs_identity():
    identities = {run_identity({"model": "fast"}, backend=backend) for backend in BACKENDS}
    assert len(identities) == len(BACKENDS)


def test_importing_digitlib_asks_for_gpu_memory_on_demand_and_sleeping_openmp_before_keras_and_sklearn_start():
    code = ("import os, sys, digitlib; print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'],"
            " os.environ['OMP_WAIT_POLICY'], 'keras' in sys.modules, 'sklearn' in sys.modules)")
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_PYTHON_CLIENT_PREALLOCATE", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert done.stdout.split() == ["false", "PASSIVE", "False", "False"]


# A worker thread (TensorFlow's steps run in its thread pool, with heaps of their own) allocates four blocks of 12 MiB,
# writes them and frees them, six times: how many pages each round faulted in.
REUSE = """
import ctypes, resource, sys, threading
if sys.argv[1] == "digitlib":
    import digitlib
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.memset.argtypes = [ctypes.c_void_p], [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
faults = []
def rounds(size=12 * 2**20):
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        blocks = [libc.malloc(size) for _ in range(4)]
        for block in blocks:
            libc.memset(block, 1, size)
        for block in blocks:
            libc.free(block)
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
worker = threading.Thread(target=rounds)
worker.start()
worker.join()
print(*faults)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and per-thread page faults: Linux")
def test_importing_digitlib_makes_glibc_keep_freed_memory_for_the_next_training_step():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}

    def faults(*argument: str) -> list[int]:
        done = subprocess.run([sys.executable, "-c", REUSE, *argument], capture_output=True, text=True,
                              env=environment, check=True)
        return [int(n) for n in done.stdout.split()]

    pages = 4 * 12 * 2**20 // 4096
    plain, kept = faults("plain"), faults("digitlib")
    assert min(plain[1:]) > pages // 2  # glibc's own settings: each round faults its 48 MiB in again
    assert kept[0] > pages // 2 and max(kept[1:]) < pages // 20  # kept: the first round only
    assert keep_freed_memory({**environment, "MALLOC_TOP_PAD_": "0"}) is False  # the user's own tuning wins
    assert keep_freed_memory({**environment, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}) is False


def test_bad_backends_on_the_command_line_are_usage_errors_that_create_nothing(tmp_path):
    result = digitlib_cli("report", "--backend", "torch", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'torch'" in result.stderr
    result = subprocess.run([sys.executable, "-m", "digitlib", "report", *TINY], cwd=tmp_path, text=True,
                            capture_output=True, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "digitlib: error: unknown Keras backend 'torch' (from $KERAS_BACKEND or ~/.keras/keras.json); "
        "choose one of: tensorflow, jax"]
    result = digitlib_cli("report", "--resume", "20261126-000000-abc", "--backend", "jax", cwd=tmp_path)
    assert result.returncode == 2 and "drop -p, --params-file and --backend" in result.stderr
    assert list(tmp_path.iterdir()) == []


def backend_of(run_dir: Path) -> tuple[str, str]:
    record = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return record["backend"], metrics["environment"]["backend"]


# In a new process with the other backend: train `fast` for an epoch on 500 images and save it to argv[1], then
# read the shipped samples with it and with every other model given; prints {model: {file name: probabilities}}.
TRAIN_AND_READ = """
import json, os, sys
import digitlib
from digitlib.modelfile import load_trained_model
from digitlib.predict.predictions import predict_images
save_to, samples, *models = sys.argv[1:]
splits = digitlib.prepare_splits(digitlib.load_mnist(), validation_split=0.0, seed=0, train_limit=500, test_limit=10)
digitlib.set_reproducible(0)
network = digitlib.build_model("fast")
digitlib.fit_model(network, splits, epochs=1, batch_size=64, learning_rate=0.005, stream=open(os.devnull, "w"))
network.save(save_to)
read = {model: {p.path.name: p.probabilities.tolist() for p in predict_images(load_trained_model(model), samples)}
        for model in [save_to, *models]}
print(json.dumps(read))
"""


@pytest.mark.e2e
def test_models_saved_by_either_backend_read_the_same_with_the_other(report_run, tmp_path):
    """The quick report's model (trained in a kernel with this process's backend) and a model trained with the
    other backend in a new process, each read by both backends: the same probabilities for every sample."""
    import keras

    from digitlib.modelfile import load_trained_model
    from digitlib.predict.predictions import predict_images

    this, other = keras.backend.backend(), *(set(BACKENDS) - {keras.backend.backend()})
    ours, theirs = report_run / "model.keras", tmp_path / f"{other}.keras"
    done = subprocess.run([sys.executable, "-c", TRAIN_AND_READ, str(theirs), str(SAMPLES), str(ours)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "KERAS_BACKEND": other})
    assert done.returncode == 0, done.stderr[-3000:]
    read_by_other = json.loads(done.stdout.strip().splitlines()[-1])
    for model in (ours, theirs):
        read_here = {p.path.name: p.probabilities for p in predict_images(load_trained_model(model), SAMPLES)}
        assert read_by_other[str(model)].keys() == read_here.keys() and len(read_here) >= 8
        for name, probabilities in read_here.items():
            np.testing.assert_allclose(read_by_other[str(model)][name], probabilities, atol=1e-5,
                                       err_msg=f"{model.name} read by {this} and {other}: {name}")


@pytest.fixture(scope="module")
def models_of_each_backend(tmp_path_factory, mnist_dir):
    """A tiny report trained with each backend: {backend: run directory}."""
    folder = tmp_path_factory.mktemp("backends")
    runs = {}
    for backend in BACKENDS:
        result = digitlib_cli("report", "--json", "--backend", backend, *TINY, "-p", "data_dir", mnist_dir, cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[backend] = folder / json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]
    return runs


@pytest.mark.e2e
@pytest.mark.full  # make test: the Python 3.12 smoke trains a report with --backend jax and checks its record
def test_the_flag_picks_the_backend_the_kernel_trains_with_and_the_run_records_it(models_of_each_backend):
    for backend, run_dir in models_of_each_backend.items():
        assert backend_of(run_dir) == (backend, backend)
        assert f"with {backend} " in (run_dir / "report.html").read_text()  # the report says what it trained on
    assert len({run_dir.name.rsplit("-", 1)[1] for run_dir in models_of_each_backend.values()}) == 2  # identities


def probabilities(model: Path, backend: str) -> dict[str, list[float]]:
    result = subprocess.run([sys.executable, "-m", "digitlib", "predict", "--json", "--top", "10",
                             "--backend", backend, "--model", str(model), str(SAMPLES)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {Path(line["path"]).name: [p["probability"] for p in sorted(line["top"], key=lambda p: p["digit"])]
            for line in lines}


@pytest.mark.e2e
@pytest.mark.full  # make test: the same, read in-process and in one new process (above)
@pytest.mark.parametrize("trained_with", BACKENDS)
def test_a_model_saved_by_one_backend_predicts_the_same_with_the_other(models_of_each_backend, trained_with):
    model = models_of_each_backend[trained_with] / "model.keras"
    same, other = probabilities(model, trained_with), probabilities(model, *set(BACKENDS) - {trained_with})
    assert same.keys() == other.keys() and len(same) >= 8
    for name in same:
        np.testing.assert_allclose(other[name], same[name], atol=1e-5, err_msg=name)


def keras_picks() -> str:
    """The backend Keras itself starts with in a new process, in this test's environment."""
    code = "import keras; print(keras.backend.backend())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.e2e  # three processes that import Keras (one of them TensorFlow)
@pytest.mark.full  # make test: the order of the flag, $KERAS_BACKEND and keras.json (above)
def test_the_configured_backend_is_what_keras_would_pick(keras_home, monkeypatch):
    assert configured_backend() == keras_picks() == "tensorflow"  # nothing configured (Keras writes keras.json)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert configured_backend() == keras_picks() == "jax"
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert configured_backend() == keras_picks() == "jax"


@pytest.mark.e2e
@pytest.mark.full  # make test: no TensorFlow chatter on a quick report's terminal (test_report_e2e)
def test_a_notebook_that_imports_digitlib_before_tensorflow_shows_none_of_its_native_errors():
    """What a JupyterLab kernel would copy into the notebook as stderr, unless digitlib set the log level first:
    on a machine without a GPU, TensorFlow's probe logs "failed call to cuInit"; fitting on arrays twice in one
    process, as fit_model does epoch by epoch, logs grappler's "NodeDef mentions attribute
    use_unbounded_threadpool" (both ERROR lines, both seen on this project's CPU machines at level 2)."""
    if importlib.util.find_spec("tensorflow") is None:
        missing("TensorFlow is not installed (make test installs it)")
    code = ("import os, numpy as np, digitlib\n"
            "from digitlib.train.training import compile_model\n"
            "model = compile_model(digitlib.build_model('seed'), 0.001)\n"
            "x, y = np.zeros((1080, 28, 28, 1), 'float32'), np.zeros(1080, 'int64')\n"
            "for epoch in range(2):\n"
            "    model.fit(x, y, validation_data=(x, y), batch_size=16, shuffle=False, verbose=0)\n"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n")
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert done.stdout.split() == ["3"]
    for line in ("cuInit", "use_unbounded_threadpool", "cpu_feature_guard", "E0000"):
        assert line not in done.stderr, done.stderr
