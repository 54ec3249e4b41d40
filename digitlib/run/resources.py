"""Will a run fit in memory? A rough, conservative estimate made before any training starts.

The estimate uses the sizes the model registry carries, so checking a run never imports Keras or
TensorFlow: the notebook's kernel does that once, when it trains.
"""

from __future__ import annotations

import os
from typing import Any

from ..models import model_spec
from ..params import ParameterError

FLOAT = 4  # bytes per float32
TRAIN_IMAGES, TEST_IMAGES, PIXELS = 60_000, 10_000, 28 * 28
ACTIVATION_OVERHEAD = 3  # forward values, their gradients, and kernel work space
PARAMETER_COPIES = 4  # weights, gradients and Adam's two moments


def available_memory() -> int:
    """Bytes the system can give a new process now (MemAvailable), or the physical total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def training_memory(parameters: dict[str, Any]) -> dict[str, int]:
    """Bytes a training run needs, by part: the prepared data, one batch's activations, the parameters.

    An ensemble trains one member at a time, so it needs one member's training plus the others' weights.
    """
    members = parameters.get("members") or 1
    network = model_spec(parameters["model"])  # an ensemble's spec carries one member's sizes
    train = min(parameters["train_limit"] or TRAIN_IMAGES, TRAIN_IMAGES)
    test = min(parameters["test_limit"] or TEST_IMAGES, TEST_IMAGES)
    return {
        # raw uint8 arrays, float32 copies for train and test, and each epoch's reordered training copy
        "data": (TRAIN_IMAGES + TEST_IMAGES) * PIXELS + (2 * train + test) * PIXELS * FLOAT,
        "activations": parameters["batch_size"] * network.activations * FLOAT * ACTIVATION_OVERHEAD,
        "parameters": network.parameters * FLOAT * (PARAMETER_COPIES + members - 1),
    }


def check_memory(parameters: dict[str, Any], available: int | None = None) -> None:
    """Refuse, with the numbers, a batch size or data limit whose training cannot fit in memory."""
    needs = training_memory(parameters)
    available = available_memory() if available is None else available
    if sum(needs.values()) > available:
        gib = 1024 ** 3
        parts = ", ".join(f"{name} {size / gib:,.1f} GiB" for name, size in needs.items())
        raise ParameterError(
            f"batch_size {parameters['batch_size']:,} with {parameters['train_limit'] or TRAIN_IMAGES:,} training "
            f"images needs about {sum(needs.values()) / gib:,.1f} GiB ({parts}) but {available / gib:,.1f} GiB "
            "is available; lower batch_size"
        )
