"""What a run needs to be reproduced: package versions, hardware, backend and git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "matplotlib", "seaborn", "pandas",
            "papermill", "nbconvert", "jax", "jaxlib")
REPOSITORY = Path(__file__).resolve().parents[2]  # digitlib/train/provenance.py -> the checkout


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def training_device() -> dict[str, str]:
    """The device Keras trains on: the first GPU's name if the backend sees one, else the CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return {"type": "GPU", "name": details.get("device_name", gpus[0].name), "count": str(len(gpus))}
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return {"type": device.platform.upper(), "name": device.device_kind, "count": str(jax.device_count())}
    return {"type": "CPU", "name": cpu_name(), "count": str(os.cpu_count() or 1)}


def device_label(device: dict[str, str]) -> str:
    """A device as the report names it: "CPU (2 cores)", or the GPU's name."""
    return f"CPU ({device['count']} cores)" if device["type"] == "CPU" else device["name"]


def training_on() -> str:
    """One line for the log and the report: "Training on NVIDIA H100 80GB HBM3 with jax 0.10.2"."""
    import keras

    device, backend = training_device(), keras.backend.backend()
    where = device_label(device)
    named = " ".join(filter(None, [backend, package_versions().get(backend)]))
    return f"Training on {where} with {named} (Keras {keras.__version__})"


def git_commit(repository: Path = REPOSITORY) -> str | None:
    """The commit the code ran from, with '-dirty' when tracked files had changes; None outside git."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True,
                                  check=True, timeout=10).stdout.strip()

        commit = git("rev-parse", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def describe_environment() -> dict:
    """Everything about the machine and software that can change a run's numbers."""
    import keras

    return {
        "versions": package_versions(),
        "backend": keras.backend.backend(),
        "device": training_device(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
        "executable": sys.executable,
    }
